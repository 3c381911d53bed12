"""Answer fit: how well a reply answers the very post it replies to, learned from real replies.

Topical cosine cannot tell an answer to this question from an answer to the question next to it: under "the
taste of hops" an answer about the calories of hops is as close as an answer about their taste. The model here
is trained on real (post, reply) pairs against hard negatives, the replies to the nearest other post of the
same site (another thread), so what it learns is what separates an answer from a neighbour's answer.

Its features are the elementwise product of the two embeddings (a learned diagonal bilinear form over
sentence-transformers vectors), their cosine, and the post's words the reply takes up, weighted by rarity
(IDF over the training replies), with the reply's length. A logistic regression (scikit-learn) weighs them;
its regularisation was chosen by five-fold cross-validation grouped by thread on the training side alone
(``bench/answer_fit.py``). Scoring is a matrix product and a set intersection per candidate: cheap enough to
rank every candidate of a reply.

Pairs of one thread never sit on both sides of a split, and a negative is never drawn from the pair's own thread.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.errors import AnswerFitError

C = 30.0  # inverse regularisation, by grouped 5-fold CV on the shipped corpus's bank side (bench/answer_fit.py)
FLOOR_QUANTILE = 0.2  # a reply must fit at least as well as four in five real replies of the training side do
MIN_PAIRS = 50
TOLERANCE = 1e-9  # lbfgs' stopping tolerance (sklearn's default 1e-4 stops wherever float noise steers it)
MAX_ITERATIONS = 20_000
_WORD = re.compile(r"[a-z0-9][a-z0-9'+#.-]*[a-z0-9+#]|[a-z0-9]")
_STOP = frozenset(
    "the a an and or of to in on for is are was were be been it this that with as at by from i you he she we they "
    "my your our not no do does did have has had can could would should will just so if but what how why which who "
    "when where there than then them their its about into more most some any all very also out up get got one use "
    "using me im i'm it's don't".split())
LEXICAL = ("post_words_taken", "post_idf_taken", "reply_idf_shared", "reply_log_words")


def content_words(text: str) -> frozenset[str]:
    """The words that carry what a text is about: lowercased, without the commonest function words."""
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _STOP)


@dataclass(frozen=True)
class Pair:
    """One real reply and the post it answered."""

    group: str  # its thread: a negative never comes from it, and a split never divides it
    site: str
    post: str
    reply: str


@dataclass(frozen=True)
class FitReport:
    """Held-out ROC-AUC of telling real replies from hard negatives, the model's and plain cosine's."""

    pairs: int
    auc: float
    cosine_auc: float


class AnswerFit:
    """A trained answer-fit model: probability that a reply answers a post, from their vectors and words."""

    def __init__(self, product: np.ndarray, cosine: float, lexical: np.ndarray, bias: float, idf: dict[str, float],
                 unseen_idf: float, floor: float) -> None:
        self.product = np.asarray(product, dtype=np.float32)
        self.cosine = float(cosine)
        self.lexical = np.asarray(lexical, dtype=np.float64)
        self.bias = float(bias)
        self.idf = idf
        self.unseen_idf = float(unseen_idf)
        self.floor = float(floor)  # FLOOR_QUANTILE of the training side's real replies: below it, no answer

    def _idf(self, word: str) -> float:
        return self.idf.get(word, self.unseen_idf)

    def lexical_features(self, post_words: frozenset[str], reply_words: frozenset[str]) -> np.ndarray:
        if not post_words or not reply_words:
            return np.array([0.0, 0.0, 0.0, math.log1p(len(reply_words))])
        shared = post_words & reply_words
        taken = sum(self._idf(w) for w in shared)
        return np.array([len(shared) / len(post_words), taken / sum(self._idf(w) for w in post_words),
                         taken / sum(self._idf(w) for w in reply_words), math.log1p(len(reply_words))])

    def logits(self, post_vectors: np.ndarray, reply_vectors: np.ndarray, post_words: Sequence[frozenset[str]],
               reply_words: Sequence[frozenset[str]]) -> np.ndarray:
        """Row i: how well reply i answers post i (log-odds). Vectors are normalised, one row per pair."""
        post_vectors = np.atleast_2d(post_vectors)
        reply_vectors = np.atleast_2d(reply_vectors)
        if len(post_vectors) == 1 and len(reply_vectors) > 1:
            post_vectors = np.broadcast_to(post_vectors, reply_vectors.shape)
            post_words = list(post_words) * len(reply_vectors)
        if not (len(post_vectors) == len(reply_vectors) == len(post_words) == len(reply_words)):
            raise ValueError("answer fit: one post (or one per reply) and one set of words per text")
        return self._linear(_features(self, post_vectors, reply_vectors, post_words, reply_words))

    def _linear(self, features: np.ndarray) -> np.ndarray:
        """Log-odds of feature rows as ``_features`` makes them."""
        return features @ np.r_[self.product, self.cosine, self.lexical] + self.bias

    def fits(self, post_vectors: np.ndarray, reply_vectors: np.ndarray, post_words: Sequence[frozenset[str]],
             reply_words: Sequence[frozenset[str]]) -> np.ndarray:
        """Probabilities in [0, 1], from vectors and words already taken (``content_words``)."""
        return _sigmoid(self.logits(post_vectors, reply_vectors, post_words, reply_words))

    def scores(self, post_vectors: np.ndarray, reply_vectors: np.ndarray, post_texts: Sequence[str],
               reply_texts: Sequence[str]) -> np.ndarray:
        """Probabilities in [0, 1], from texts' vectors and the texts themselves."""
        return _sigmoid(self.logits(post_vectors, reply_vectors, [content_words(t) for t in post_texts],
                                    [content_words(t) for t in reply_texts]))

    def to_dict(self) -> dict:
        return {"product": [round(float(x), 6) for x in self.product], "cosine": self.cosine,
                "lexical": [float(x) for x in self.lexical], "bias": self.bias, "unseen_idf": self.unseen_idf,
                "floor": self.floor, "idf": {w: round(v, 4) for w, v in sorted(self.idf.items())}}

    @classmethod
    def from_dict(cls, data: dict) -> "AnswerFit":
        try:
            return cls(np.asarray(data["product"], dtype=np.float32), data["cosine"], np.asarray(data["lexical"]),
                       data["bias"], dict(data["idf"]), data["unseen_idf"], data["floor"])
        except (KeyError, TypeError, ValueError) as exc:
            raise AnswerFitError(f"answer fit: not a saved model ({exc}); train it again") from None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def hard_negatives(pairs: Sequence[Pair], post_vectors: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """For each pair, the pair whose post is nearest its post among the same site's other threads (-1: none)."""
    sites = np.asarray([p.site for p in pairs])
    groups = np.asarray([p.group for p in pairs])
    out = np.full(len(pairs), -1, dtype=np.int64)
    for start in range(0, len(pairs), chunk):
        sims = post_vectors[start:start + chunk] @ post_vectors.T
        rows = np.arange(start, min(start + chunk, len(pairs)))
        sims[(sites[None, :] != sites[rows, None]) | (groups[None, :] == groups[rows, None])] = -np.inf
        best = sims.argmax(axis=1)
        found = np.isfinite(sims[np.arange(len(rows)), best])
        out[rows[found]] = best[found]
    return out


def _features(model: AnswerFit, post_vectors, reply_vectors, post_words, reply_words) -> np.ndarray:
    product = post_vectors * reply_vectors
    lexical = np.array([model.lexical_features(p, r) for p, r in zip(post_words, reply_words)]).reshape(-1, 4)
    return np.hstack([product, product.sum(axis=1, keepdims=True), lexical])


def _labelled(model: AnswerFit, pairs, post_vectors, reply_vectors):
    """Each real pair (label 1) and its hard negative (label 0), as feature rows."""
    negatives = hard_negatives(pairs, post_vectors)
    keep = np.flatnonzero(negatives >= 0)
    posts = [content_words(p.post) for p in pairs]
    replies = [content_words(p.reply) for p in pairs]
    real = _features(model, post_vectors[keep], reply_vectors[keep], [posts[i] for i in keep], [replies[i] for i in keep])
    other = negatives[keep]
    fake = _features(model, post_vectors[keep], reply_vectors[other], [posts[i] for i in keep],
                     [replies[i] for i in other])
    return np.vstack([real, fake]), np.r_[np.ones(len(keep)), np.zeros(len(keep))]


def train(pairs: Sequence[Pair], post_vectors: np.ndarray, reply_vectors: np.ndarray, *, c: float = C) -> AnswerFit:
    """Fit the model on ``pairs`` (with their posts' and replies' normalised vectors, row for row)."""
    from sklearn.linear_model import LogisticRegression

    if len(pairs) < MIN_PAIRS:
        raise AnswerFitError(f"answer fit: {len(pairs)} (post, reply) pairs to learn from; it needs at least "
                             f"{MIN_PAIRS}: give the reply bank more threads with replies")
    counts: Counter[str] = Counter()
    for pair in pairs:
        counts.update(content_words(pair.reply))
    n = len(pairs)
    idf = {w: math.log((n + 1) / (k + 1)) for w, k in counts.items() if k > 1}  # words seen once add nothing shared
    blank = AnswerFit(np.zeros(post_vectors.shape[1]), 0.0, np.zeros(4), 0.0, idf, math.log(n + 1), 0.0)
    x, y = _labelled(blank, pairs, post_vectors, reply_vectors)
    # to the optimum, not to sklearn's default tolerance: the loss is strictly convex, so the weights then follow the
    # data alone, and float noise in the vectors (cached or freshly batched) cannot move a run's scores or floors
    fitted = LogisticRegression(C=c, tol=TOLERANCE, max_iter=MAX_ITERATIONS).fit(np.asarray(x, np.float64), y)
    weights = fitted.coef_[0]
    dims = post_vectors.shape[1]
    model = AnswerFit(weights[:dims], weights[dims], weights[dims + 1:], fitted.intercept_[0], idf, math.log(n + 1), 0.0)
    real = _sigmoid(x[y == 1] @ weights + fitted.intercept_[0])
    model.floor = float(np.quantile(real, FLOOR_QUANTILE))
    return model


def evaluate(model: AnswerFit, pairs: Sequence[Pair], post_vectors: np.ndarray, reply_vectors: np.ndarray) -> FitReport:
    """ROC-AUC on held-out pairs against their hard negatives, beside plain cosine's."""
    from sklearn.metrics import roc_auc_score

    x, y = _labelled(model, pairs, post_vectors, reply_vectors)
    if not len(y) or len(set(y)) < 2:
        raise AnswerFitError("answer fit: no held-out pairs with a hard negative to judge on")
    cosine = x[:, post_vectors.shape[1]]
    return FitReport(int(len(y) // 2), float(roc_auc_score(y, model._linear(x))), float(roc_auc_score(y, cosine)))
