"""Stance: which side a forum message takes on a persona's stance topic, and so whether the persona agrees.

A persona holds positions (``for`` or ``against``) on a few topics. For each message the reader

1. finds the persona topic the message is about: MiniLM cosine between the message and each topic phrase
   (topics embedded once per persona); below ``TOPIC_THRESHOLD`` nothing is touched and the answer is neutral;
   between it and a clear match the side model below, which sees the cosine too, decides whether it is an aside;
2. reads the side the message takes on that topic: ``pro``, ``con`` or ``none`` (a question, a fact, an aside);
3. relates side and position: pro & for or con & against is "agree", the opposite "disagree", no side "neutral".

Step 2 is a small logistic regression over topic-independent features, trained on the train part of the labelled
set shipped beside this file (``stance_set.jsonl``): cue words with negation scope ("not worth it", "I don't think
... is excessive"), VADER sentiment and question shape, each read on the raw text and on the text with the topic's
own words replaced by "it" (so "cheap", "hard" or "premature" in a topic never reads as the writer's opinion); the
masked text's similarity to short generic pro / con / neutral sentences; and the message's cosine to the topic.
Features that name no topic let it judge topics it never saw in training, which is why the held-out part of the
set is made of whole topics. Sentiment alone is not enough: on held-out topics it scores about 0.6, this 0.8.

The held-out part is fixed by a rule, never by hand: a topic is held out when ``crc32(topic) % 4 == 0``
(``split_of``); loading the set checks every line against it.
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bots.personas import Persona, Stance
from index.embedder import Embedder
from core.errors import MurmurError

STANCE_SET = Path(__file__).with_name("stance_set.jsonl")
TOPIC_THRESHOLD = 0.25  # cosine message <-> topic phrase below which a message is not about the topic (CV on train)
TOPIC_ONLY_THRESHOLD = 0.45  # the old topic-only rule's threshold, kept for the baseline
SIDES = ("pro", "con", "none")
SPLITS = ("train", "test")
RELATIONS = ("agree", "disagree", "neutral")
REGULARISATION = 0.1  # LogisticRegression C: chosen by 5-fold cross-validation grouped by topic, on the train part only


class StanceError(MurmurError):
    """The labelled stance set cannot be used (a damaged line, an unknown side, a split off its rule)."""

    exit_code = 2


# ---------------------------------------------------------------------------------------------------------------
# The labelled set


@dataclass(frozen=True)
class Labelled:
    """One line of the labelled set: a message, the stance topic it is judged against, and the side it takes."""

    text: str
    topic: str
    side: str
    split: str


def split_of(topic: str) -> str:
    """The fixed rule that holds out whole topics: "test" when crc32 of the topic is divisible by 4."""
    return "test" if zlib.crc32(topic.encode("utf-8")) % 4 == 0 else "train"


def load_labelled(path: Path | str = STANCE_SET) -> list[Labelled]:
    """Every line of a labelled set, checked: an error names the file, the line and the field."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise StanceError(f"{path}: cannot read the labelled stance set ({exc.strerror or exc})") from None
    rows: list[Labelled] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise StanceError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(data, dict):
            raise StanceError(f"{where}: a line is a JSON object with text, topic, side and split")
        for key in ("text", "topic", "side", "split"):
            if key not in data:
                raise StanceError(f"{where}: {key}: missing; add it")
            if not isinstance(data[key], str) or not data[key].strip():
                raise StanceError(f"{where}: {key}: must be non-empty text (got {data[key]!r})")
        extra = sorted(set(data) - {"text", "topic", "side", "split"})
        if extra:
            raise StanceError(f"{where}: {extra[0]}: unknown key; a line has only text, topic, side and split")
        if data["side"] not in SIDES:
            raise StanceError(f"{where}: side: must be one of {', '.join(SIDES)} (got {data['side']!r})")
        if data["split"] not in SPLITS:
            raise StanceError(f"{where}: split: must be train or test (got {data['split']!r})")
        if data["split"] != split_of(data["topic"]):
            raise StanceError(f"{where}: split: {data['split']!r}, but the fixed rule (crc32(topic) % 4 == 0 is test) "
                              f"puts topic {data['topic']!r} in {split_of(data['topic'])!r}")
        rows.append(Labelled(data["text"], data["topic"], data["side"], data["split"]))
    if not rows:
        raise StanceError(f"{path}: no labelled lines")
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Features that name no topic

_VADER = SentimentIntensityAnalyzer()
# Fixed phrases are read first and their words are not read again; +1 leans pro, -1 con.
_PHRASES = {
    "not worth": -1, "no need": -1, "don't need": -1, "do not need": -1, "don't bother": -1, "never again": -1,
    "nothing wrong": 1, "no shame": 1, "no harm": 1, "no regrets": 1, "no issues": 1, "no problem": 1,
    "can't go wrong": 1, "can't beat": 1, "cannot beat": 1, "can't imagine going back": 1, "never go back": 1,
    "wouldn't go back": -1, "worth it": 1, "worth the": 1, "go for it": 1, "do it": 1, "game changer": 1,
    "changed everything": 1, "wish i'd": 1, "false economy": -1, "waste of": -1, "tired of": -1, "gave up": -1,
    "give up": -1, "giving up": -1, "burned out": -1, "stick with": -1, "stick to": -1, "rather": -1, "instead": -1,
    "too old": -1, "too much": -1, "asking for": -1, "lesson learned": -1, "stay away": -1, "more hassle": -1,
    "not a fan": -1, "not convinced": -1, "not sold": -1,
}
_PRO = (r"recommend\w*|lov(e|ed|es|ing)|great|best|brilliant|amazing|excellent|help(s|ed)?|works?|worked|fine|good|better|"
        r"easier|simpler|sav(ed|es)|fix(ed|es)|perfect(ly)?|joy|favou?rite|enjoy\w*|fun|fair|reliable|lovely|"
        r"benefit\w*|useful|sensible|glad|happy|nice|smooth|easy|beats?|worth|swear|improv\w*|upgrade|wins?|"
        r"hooked")
_CON = (r"wastes?|wasteful|overkill|overrated|overblown|avoid\w*|pointless|useless|mistake|stop|stopped|hat(e|ed)|stale|"
        r"inconsiderate|hassle|nightmare|frustrat\w*|anti-pattern|busywork|marketing|hype|kills?|wrecks?|ruin\w*|broke|"
        r"broken|tedious|bland|mushy|chaos|rott\w*|dangerous|risky|injur\w*|terrible|wobbly|confus\w*|stupid|impossible|"
        r"drown\w*|stress\w*|disease|harm\w*|expensive|excessive|obsessive|lazy|junk|cheating|doom|bad|worse|worst|"
        r"regret\w*|problems?|issues?|prefer\w*|wait|unnecessary|shame|wrong|sin|overpriced|gimmick\w*|awful|annoying|hell")
_PRO_RE = re.compile(r"\b(" + _PRO + r")\b")
_CON_RE = re.compile(r"\b(" + _CON + r")\b")
_PHRASE_RE = re.compile(r"\b(" + "|".join(re.escape(p) for p in sorted(_PHRASES, key=len, reverse=True)) + r")\b")
_NEGATOR = re.compile(r"\b(not|no|never|nothing|nobody|none|hardly|without|cannot|nor)\b|n't\b")
_HEDGE = re.compile(r"\b((don't|do not|wouldn't|would not|can't|cannot|didn't) (think|believe|say|see|get|agree|find)|"
                    r"not (convinced|sure|sold on))\b")
_RHETORICAL_CON = re.compile(r"^(why would (anyone|you)|who (really |even )?needs|isn't (it|that|this)|aren't)")
_RHETORICAL_PRO = re.compile(r"^(why (doesn't|don't|wouldn't) (everyone|you|people)|why not)")
_QUESTION_WORDS = {"what", "how", "which", "when", "where", "who", "why", "is", "are", "does", "do", "can", "should",
                   "has", "have", "any", "anyone", "did", "will", "would", "isn't"}
_WORD = re.compile(r"[a-z0-9']+")
_TOPIC_FILLER = {"for", "the", "a", "an", "in", "of", "on", "to", "and", "or", "as", "with", "without", "from", "every",
                 "all", "only", "just", "before", "first"}
# Generic sentences that name no topic: the masked message's similarity to each is a feature.
PROTOTYPES = (
    "This worked really well for me.", "I highly recommend it.", "It is worth it.", "I love it.", "It is a good idea.",
    "There is nothing wrong with it.", "It made a big difference.",
    "It was a waste of time.", "Avoid it.", "It is not worth it.", "I hate it.", "It is a bad idea.", "Don't do it.",
    "I regret it.",
    "How do I do this?", "Does anyone know?", "Here is some information about it.", "What do you use?",
)


def _normal(text: str) -> str:
    return text.lower().replace("\u2019", "'")


def _clauses(text: str) -> list[str]:
    """Sentences, and the parts around 'but' / 'though': the clause after 'but' usually carries the verdict."""
    parts = re.split(r"(?<=[.!?;])\s+|,?\s+\bbut\b\s+|,?\s+\bthough\b\s+", _normal(text))
    return [p for p in parts if p.strip()] or [_normal(text)]


def _cue_score(clause: str) -> float:
    """Signed cue count of a clause. A cue flips after a negator in the 3 words before it ("not worth"), or inside
    a hedge's scope ("I don't think X is excessive", up to the next comma); a hedge's own "don't" is no second flip."""
    hedges = [(m.start(), m.end(), _scope_end(clause, m.end())) for m in _HEDGE.finditer(clause)]
    score = 0.0
    taken: list[tuple[int, int]] = []
    for match in _PHRASE_RE.finditer(clause):
        hedged = any(end < match.start() < scope for _, end, scope in hedges)
        score += -_PHRASES[match.group(1)] if hedged else _PHRASES[match.group(1)]
        taken.append((match.start(), match.end()))
    for pattern, sign in ((_PRO_RE, 1), (_CON_RE, -1)):
        for match in pattern.finditer(clause):
            if any(start <= match.start() < end for start, end in taken):
                continue
            window = [w for w in _WORD.finditer(clause[:match.start()])][-3:]
            negated = any(_NEGATOR.search(w.group(0)) and not any(a <= w.start() < b for a, b, _ in hedges)
                          for w in window)
            hedged = any(end < match.start() < scope for _, end, scope in hedges)
            score += -sign if negated != hedged else sign
    return score


def _scope_end(clause: str, start: int) -> int:
    comma = re.search(r"[,;:]", clause[start:])
    return start + comma.start() if comma else len(clause)


def cue_features(text: str) -> list[float]:
    """Sentiment, cue words with negation, and question shape: what a reader sees without knowing the topic."""
    clauses = _clauses(text)
    whole = _VADER.polarity_scores(text)
    last = _VADER.polarity_scores(clauses[-1])
    scores = [_cue_score(c) for c in clauses]
    total = sum(scores)
    after_but = scores[-1] if len(clauses) > 1 else 0.0
    plain = _normal(text).strip()
    words = _WORD.findall(plain)
    question = plain.endswith("?")
    return [whole["compound"], whole["pos"], whole["neg"], last["compound"], total, after_but,
            float(np.sign(total + after_but)), float(question),
            float(question and bool(words) and words[0] in _QUESTION_WORDS),
            float(bool(_HEDGE.search(plain))),
            float(bool(_RHETORICAL_CON.search(plain))) - float(bool(_RHETORICAL_PRO.search(plain))),
            float(all(s == 0 for s in scores))]


def mask_topic(text: str, topic: str) -> str:
    """The text with the topic's own words replaced by "it": their sentiment belongs to the topic, not the writer."""
    stems = {w[:4] for w in re.findall(r"[a-z]+", topic.lower()) if w not in _TOPIC_FILLER and len(w) > 2}
    return re.sub(r"[A-Za-z][A-Za-z'-]*", lambda m: "it" if m.group(0).lower()[:4] in stems else m.group(0), text)


# ---------------------------------------------------------------------------------------------------------------
# Readers


def relation(side: str, position: str) -> str:
    """A message's side against a persona's position: same side agrees, the other disagrees, no side is neutral."""
    if side == "none":
        return "neutral"
    return "agree" if (side == "pro") == (position == "for") else "disagree"


class _TopicFinder:
    """The persona stance a message is about, by MiniLM cosine to the topic phrases (each persona's embedded once)."""

    def __init__(self, embedder: Embedder, threshold: float) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self._topics: dict[tuple[str, ...], np.ndarray] = {}
        self._lock = threading.Lock()  # DialogueEngine calls from worker threads

    def find(self, persona: Persona, text: str) -> tuple[Stance, float] | None:
        """The closest stance and its cosine, or None when no topic reaches the threshold."""
        if not persona.stance or not text.strip():
            return None
        key = tuple(s.topic for s in persona.stance)
        with self._lock:
            topics = self._topics.get(key)
        if topics is None:
            topics = self.embedder.embed(list(key))
            with self._lock:
                self._topics[key] = topics
        similarities = topics @ self.embedder.embed_one(text)
        best = int(np.argmax(similarities))
        if similarities[best] < self.threshold:
            return None
        return persona.stance[best], float(similarities[best])


class TopicOnlyReader:
    """The old rule, kept as the baseline: a touched topic means the persona's position, whatever the message says."""

    def __init__(self, embedder: Embedder, *, threshold: float = TOPIC_ONLY_THRESHOLD) -> None:
        self._finder = _TopicFinder(embedder, threshold)

    def stance(self, persona: Persona, text: str) -> str:
        found = self._finder.find(persona, text)
        if found is None:
            return "neutral"
        return "agree" if found[0].position == "for" else "disagree"


class StanceReader:
    """Whether a persona agrees with a message: the topic it touches, the side it takes there, the persona's position.

    The side model is fitted at construction from the train part of the labelled set (about a second the first
    time; the embedder's cache makes it quicker after); it is deterministic. ``stance`` is safe from several threads.
    The topic threshold is lower than the old rule's because the side model sees the topic similarity too and
    answers "none" for a message that only brushes a topic.
    """

    def __init__(self, embedder: Embedder, *, labelled: Path | str = STANCE_SET, threshold: float = TOPIC_THRESHOLD,
                 regularisation: float = REGULARISATION, train: Sequence[Labelled] | None = None) -> None:
        self.embedder = embedder
        self._finder = _TopicFinder(embedder, threshold)
        self._prototypes = embedder.embed(list(PROTOTYPES))
        rows = list(train) if train is not None else [r for r in load_labelled(labelled) if r.split == "train"]
        if {r.side for r in rows} != set(SIDES):
            raise StanceError(f"{labelled}: the train part needs examples of every side ({', '.join(SIDES)})")
        texts, topics = [r.text for r in rows], [r.topic for r in rows]
        on_topic = np.sum(embedder.embed(texts) * embedder.embed(topics), axis=1)
        self._model: Pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=regularisation, max_iter=5000))
        self._model.fit(self._features(texts, topics, on_topic), [r.side for r in rows])

    def _features(self, texts: Sequence[str], topics: Sequence[str], on_topic: np.ndarray) -> np.ndarray:
        masked = [mask_topic(t, topic) for t, topic in zip(texts, topics)]
        prototypes = self.embedder.embed([m if m.strip() else t for m, t in zip(masked, texts)]) @ self._prototypes.T
        lexical = [cue_features(t) + cue_features(m) for t, m in zip(texts, masked)]
        return np.hstack([np.asarray(lexical, dtype=np.float64), prototypes.astype(np.float64),
                          np.asarray(on_topic, dtype=np.float64).reshape(-1, 1)])

    def side(self, topic: str, text: str, similarity: float | None = None) -> str:
        """Which side ``text`` takes on ``topic``: "pro", "con" or "none" (``similarity``: their cosine, if known)."""
        if not text.strip():
            return "none"
        if similarity is None:
            similarity = float(self.embedder.embed_one(text) @ self.embedder.embed_one(topic))
        return self.sides(topic, [text], np.array([similarity]))[0]

    def sides(self, topic: str, texts: Sequence[str], similarities: np.ndarray) -> list[str]:
        """``side`` for many texts at once (their cosines to ``topic`` given): how a campaign reads a whole bank."""
        if not len(texts):
            return []
        found = self._model.predict(self._features(list(texts), [topic] * len(texts), np.asarray(similarities)))
        return ["none" if not text.strip() else str(side) for text, side in zip(texts, found)]

    def stance(self, persona: Persona, text: str) -> str:
        found = self._finder.find(persona, text)
        if found is None:
            return "neutral"
        stance, similarity = found
        return relation(self.side(stance.topic, text, similarity), stance.position)


# ---------------------------------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class StanceScore:
    """How often a reader's relation matched the labelled one, overall and per relation."""

    accuracy: float
    decisions: int
    per_relation: dict[str, tuple[float, float, int]]  # relation -> (precision, recall, labelled count)

    def line(self, name: str) -> str:
        parts = " ".join(f"{r} p={p:.2f} r={c:.2f} n={n}" for r, (p, c, n) in self.per_relation.items())
        return f"{name:<12} accuracy {self.accuracy:.3f} of {self.decisions}  {parts}"


def _positions(persona: Persona, flip: bool) -> Persona:
    if not flip:
        return persona
    flipped = tuple(s.model_copy(update={"position": "against" if s.position == "for" else "for"})
                    for s in persona.stance)
    return persona.model_copy(update={"stance": flipped})


def evaluate_stance(reader: StanceReader | TopicOnlyReader, rows: Iterable[Labelled],
                    personas: Sequence[Persona]) -> StanceScore:
    """Accuracy of the agree/disagree/neutral answer, each message judged by the persona that holds its topic
    and by the same persona with every position reversed, so a reader that ignores the message's side scores
    at most half on the sided messages."""
    holder = {}
    for persona in personas:
        for s in persona.stance:
            holder.setdefault(s.topic, persona)
    expected: list[str] = []
    got: list[str] = []
    for row in rows:
        if row.topic not in holder:
            raise StanceError(f"topic {row.topic!r} is no persona's stance topic; use one verbatim")
        for flip in (False, True):
            persona = _positions(holder[row.topic], flip)
            position = next(s.position for s in persona.stance if s.topic == row.topic)
            expected.append(relation(row.side, position))
            got.append(reader.stance(persona, row.text))
    if not expected:
        raise StanceError("no labelled messages to evaluate")
    want, have = np.array(expected), np.array(got)
    per = {}
    for r in RELATIONS:
        predicted = int(np.sum(have == r))
        hits = int(np.sum((have == r) & (want == r)))
        support = int(np.sum(want == r))
        per[r] = (hits / predicted if predicted else 0.0, hits / support if support else 0.0, support)
    return StanceScore(float(np.mean(want == have)), len(want), per)


def compare(embedder: Embedder, personas: Sequence[Persona], *, split: str = "test",
            labelled: Path | str = STANCE_SET) -> dict[str, StanceScore]:
    """The side-reading reader and the old topic-only rule on one part of the labelled set, side by side."""
    rows = [r for r in load_labelled(labelled) if r.split == split]
    return {"side-aware": evaluate_stance(StanceReader(embedder, labelled=labelled), rows, personas),
            "topic-only": evaluate_stance(TopicOnlyReader(embedder), rows, personas)}


def main() -> None:  # pragma: no cover - a manual benchmark: python -m bots.dialogue.stance
    from bots.personas import load_personas

    root = Path(__file__).resolve().parents[1]  # bots/
    personas = load_personas(root / "personas") + load_personas(root / "corpus_personas")
    embedder = Embedder()
    try:
        for name, score in compare(embedder, personas).items():
            print(score.line(name))
    finally:
        embedder.close()


if __name__ == "__main__":  # pragma: no cover
    main()
