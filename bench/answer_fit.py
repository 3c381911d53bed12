"""Answer fit, measured by hand: `.venv/bin/python bench/answer_fit.py [--weights 0,0.15,0.3,0.45] [--posts 300]`.

1. The model (index/answer_fit.py): trained on the bank side of the shipped corpus (every thread but every 6th),
   judged on the demo forum's threads (every 6th), each real reply against its hard negative (the reply to the
   nearest other post of the same site). Prints held-out ROC-AUC beside plain cosine's, and the grouped 5-fold
   cross-validation on the training side alone that chose the regularisation C.
2. Selection (bots/words/selection.py) on the tuning split, every 4th thread from the second: the forum is those
   threads, the bank the rest. For each people's reply there, the bank's choice for the post it answered, per
   weight given to answer fit beside cosine's 0.6. Prints the chosen replies'
   median answer fit and cosine against the people's real replies to the same posts, and how often the bot
   has nothing to say. The weight is chosen here, never on the split the demo and the tests judge on.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and bench/index.py would shadow the `index` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bots.words import selection  # noqa: E402
from bots.words.acts import ActLabels  # noqa: E402
from bots.words.bank import ReplyBank, read_bank  # noqa: E402
from bots.personas import CORPUS_PERSONAS, load_personas  # noqa: E402
from bots.words.replies import Message, ReplyRequest  # noqa: E402
from conversations.importers import CORPUS_THREADS, open_source  # noqa: E402
from index.answer_fit import C, Pair, evaluate, train  # noqa: E402
from index.build import open_embedder  # noqa: E402
from index.documents import clip  # noqa: E402
from murmur.config import load_settings  # noqa: E402

SITE_PERSONA = {"coffee": "home-barista", "beer": "craft-beer-taster", "ai": "neural-net-tinkerer",
                "matheducators": "school-math-teacher", "stackoverflow": "polyglot-programmer", "askubuntu": "ubuntu-admin"}


def corpus_pairs(threads, keep) -> list[Pair]:
    """Every real (post, reply) pair of the kept threads, the post as the bank holds it (title with a question)."""
    out = []
    for n, thread in enumerate(threads):
        if not keep(n):
            continue
        bodies = {p.external_id: p.body for p in thread.posts}
        opening = thread.posts[0].body
        for post in thread.posts[1:]:
            parent = bodies.get(post.parent_external_id or "")
            context = clip(f"{thread.title}\n{opening}") if parent is None or parent == opening else clip(parent)
            if post.body.strip():
                out.append(Pair(thread.external_id, thread.external_id.split(":")[0], context, clip(post.body)))
    return out


def model_report(threads, embedder) -> None:
    from sklearn.linear_model import LogisticRegression  # noqa: F401 (the model's own part)

    train_pairs = corpus_pairs(threads, lambda n: n % 6 != 0)
    held = corpus_pairs(threads, lambda n: n % 6 == 0)
    vectors = {}
    for name, pairs in (("train", train_pairs), ("held", held)):
        vectors[name] = (embedder.embed([p.post for p in pairs]), embedder.embed([p.reply for p in pairs]))
    began = time.perf_counter()
    model = train(train_pairs, *vectors["train"])
    took = time.perf_counter() - began
    report = evaluate(model, held, *vectors["held"])
    print(f"answer fit: trained on {len(train_pairs)} pairs in {took:.1f} s; held-out (the demo forum's threads, "
          f"{report.pairs} pairs, each against its hard negative): ROC-AUC {report.auc:.3f} against cosine's "
          f"{report.cosine_auc:.3f} ({report.auc / report.cosine_auc:.2f}x); floor {model.floor:.3f}")
    groups = sorted({p.group for p in train_pairs})
    folds = [set(groups[i::5]) for i in range(5)]
    P, R = vectors["train"]
    for c in (3.0, 10.0, C, 100.0):
        aucs = []
        for fold in folds:
            inside = np.asarray([p.group not in fold for p in train_pairs])
            fitted = train([p for p, k in zip(train_pairs, inside) if k], P[inside], R[inside], c=c)
            aucs.append(evaluate(fitted, [p for p, k in zip(train_pairs, inside) if not k], P[~inside], R[~inside]).auc)
        print(f"  C={c:g}: grouped 5-fold CV on the training side ROC-AUC {statistics.mean(aucs):.3f}"
              f"{'  (chosen)' if c == C else ''}")


def selection_report(threads, embedder, weights: list[float], posts: int) -> None:
    forum = [t for n, t in enumerate(threads) if n % 4 == 1]
    bank = ReplyBank(read_bank([CORPUS_THREADS], forum_posts=[p.body for t in forum for p in t.posts]), embedder)
    personas = {p.name: p for p in load_personas(CORPUS_PERSONAS)}
    asks = []
    for thread in forum:
        bodies = {p.external_id: p.body for p in thread.posts}
        for post in thread.posts[1:]:
            parent = bodies.get(post.parent_external_id or "") or thread.posts[0].body
            if post.body.strip():
                asks.append((thread, parent, post.body))
    asks = asks[::max(1, len(asks) // posts)][:posts]
    generator = selection.BankGenerator(bank, labels=ActLabels.by_cues(bank))
    model = generator.answer_fit
    people_texts = [clip(a[2]) for a in asks]
    parents = [clip(a[1]) for a in asks]
    pv, rv = embedder.embed(parents), embedder.embed(people_texts)
    people_fit = model.scores(pv, rv, parents, people_texts)
    people_cos = (pv * rv).sum(axis=1)
    print(f"\nselection on the tuning split (every 4th thread from the 2nd; {len(asks)} people's replies): "
          f"people's median answer fit {np.median(people_fit):.3f}, cosine {np.median(people_cos):.3f}")
    base = dict(selection.WEIGHTS)
    for weight in weights:
        selection.WEIGHTS.update(fit=weight)  # beside cosine's weight, which stays
        fits, coss, silent = [], [], 0
        for thread, parent, _ in tqdm(asks, desc=f"fit weight {weight:g}", unit="post", leave=False,
                                         disable=not sys.stderr.isatty()):
            persona = personas[SITE_PERSONA[thread.external_id.split(":")[0]]]
            request = ReplyRequest(persona, "answer", (Message("user", parent),), f"t-{thread.external_id}",
                                   thread_title=thread.title, thread_opening=thread.posts[0].body, claim=False)
            ranked = generator.rank(request)
            if not ranked:
                silent += 1
                continue
            fits.append(ranked[0].fit)
            coss.append(ranked[0].answers)
        print(f"  fit weight {weight:g}: chosen median answer fit {np.median(fits):.3f}, cosine {np.median(coss):.3f}; "
              f"nothing to say {silent / len(asks):.0%}")
    selection.WEIGHTS.update(base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default="0,0.15,0.3,0.45", help="answer-fit weights to compare in selection")
    parser.add_argument("--posts", type=int, default=300, help="people's replies of the tuning split to answer")
    args = parser.parse_args()
    settings = load_settings(None)
    embedder = open_embedder(settings.index)
    threads = list(open_source(CORPUS_THREADS)[0])
    model_report(threads, embedder)
    selection_report(threads, embedder, [float(w) for w in args.weights.split(",")], args.posts)
    embedder.close()


if __name__ == "__main__":
    main()
