"""Fitting one human reply from the bank into a new conversation, without splicing.

A bank reply was written for another thread. Some of its sentences only make
sense there: quoted blocks, code, links to its source, @names, "as X said",
talk about the site itself. ``passage`` keeps one contiguous run of the
reply's sentences that needs none of that, cut at sentence boundaries to the
persona's length. It never joins sentences that were not next to each other
in the source: the words stay one person's coherent answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# html_to_text writes a link as "text (https://...)": the parenthesis goes, the words stay. A bare address is part of
# its sentence ("see https://... for more"), so that sentence cannot be used at all.
_LINK = re.compile(r"\s*\(\s*(?:https?://|www\.)[^)\s]*\s*\)")
_BARE_LINK = re.compile(r"https?://|www\.|\.(?:com|org|net)\b")
# An address inside the source's own network (a question, an answer or a user page there).
_OWN_NETWORK = re.compile(r"\b(?:[\w-]+\.)*(?:stackexchange|stackoverflow|askubuntu|superuser|serverfault|mathoverflow|"
                          r"stackapps)\.(?:com|net)\b|\bsstatic\.net\b", re.IGNORECASE)
_MENTION = re.compile(r"^(?:@[\w.\-]+[,:]?\s+)+")
_MENTION_ANYWHERE = re.compile(r"(?<![\w.])@[A-Za-z][\w.\-]*")
# A sentence ends at . ! or ?, but not after an initial ("C. W. Bamforth") or a common abbreviation.
# The closing quotes and brackets after the stop stay with their sentence (the group, put back by split_sentences).
_SENTENCE_END = re.compile(r"(?<![\s(][A-Z]\.)(?<!^[A-Z]\.)(?<!e\.g\.)(?<!i\.e\.)(?<!\bvs\.)(?<!\bMr\.)(?<!\bDr\.)"
                           r"(?<!\bSt\.)(?<!\bNo\.)(?<=[.!?])([\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9@])")
_WORD = re.compile(r"\w+", re.UNICODE)  # as detection/features.py counts words
# Sentences that point at the source's own page: other answers, comments, votes, edits, the site.
_ELSEWHERE = re.compile(
    r"\b(?:as (?:@?[\w.'\-]+ ){0,3}(?:has |have |had )?(?:already )?(?:said|mentioned|noted|pointed out|suggested|stated)"
    r"|(?:answer|comment|post|link)s? (?:above|below)|other answers?|accepted answer|this answer|my answer|this question"
    r"|(?:up|down)-?vot|\bedit(?:ed)?\s*:|\bupdate\s*:|duplicate|stack ?exchange|stack ?overflow|\bmeta\b|\.SE\b"
    r"|welcome to|this site|the site\b|the tour|the faq|flag(?:ged)?\b|\bmods?\b|moderator|close vote|reputation"
    r"|see (?:also )?(?:here|this|there)|linked (?:question|post)|\bOP\b|\+1|\bSE\b|off-?topic|on-?topic"
    r"|(?:different|separate|new|another|follow-up) (?:questions?|posts?)|answer(?:s|ed)? the question|vote to close"
    r"|please (?:consider|edit|clarify|add|accept|ask)|split(?:ting)? (?:this|it|them) (?:up|into))",
    re.IGNORECASE)
# Sentences that speak of the source's own conversation: what its author said before, a day or a person it knew.
_EARLIER = re.compile(r"\bas i (?:said|mentioned|noted|wrote|explained|suggested)\b|\b(?:said|mentioned|noted|explained) "
                      r"(?:above|earlier|before|previously)\b|\bearlier in (?:this|the) thread\b", re.IGNORECASE)
_WHEN = re.compile(r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|tonight|yesterday|"
                   r"this (?:morning|afternoon|evening|weekend)|next (?:week|month)|last (?:week|month))\b", re.IGNORECASE)
_ADDRESSED = re.compile(r"\b(?i:thanks|thank you|hi|hello|hey|dear|sorry|good luck|congrats|congratulations|welcome),?"
                        r"\s+([A-Z][a-z]{2,})\b")
_CODEISH = re.compile(r"[{};=<>\\|`]|^\s*(?:\$|#|//|sudo |def |import |class |return )")
# A passage must not begin mid-argument.
_CONNECTIVE = re.compile(r"^(?:but|however|also|so|and|or|then|that said|still|though|although|thus|hence|therefore|"
                         r"this|that|these|those|it|they|he|she|otherwise|instead|besides|plus|yes|no|yeah|nope|now|"
                         r"again|anyway|which|moreover|furthermore|additionally|finally|lastly|secondly|meanwhile|"
                         r"similarly|likewise|even so|if so|in that case|in this case|on the other hand|in addition)\b",
                         re.IGNORECASE)
# A sentence that leads into what comes after it: a run never ends on one ("... the following growing conditions.").
_LEADS_ON = re.compile(r":\s*$|\b(?:the following|as follows|the next (?:few )?(?:lines|steps|points)|(?:is|are) below|"
                       r"shown below|listed below|like this|these steps)\b", re.IGNORECASE)
# What is not a bracket of a quotation or an aside: a list marker ("a)", "2)") or a smiley.
_NOT_BRACKET = re.compile(r"(?<![\w(])\w\)|[:;]-?[()]")


def split_sentences(text: str) -> list[str]:
    """A paragraph's sentences, each with the quotes and brackets that close it ('... under-extracted."')."""
    parts = _SENTENCE_END.split(text)
    return [parts[n] + (parts[n + 1] if n + 1 < len(parts) else "") for n in range(0, len(parts), 2)]


def words(text: str) -> list[str]:
    """Words as the copy detectors count them: lowercase runs of word characters."""
    return _WORD.findall(text.lower())


_LINK_AS_WORD = re.compile(r"\b(?:of|the|a|an|to|at|on|in|with|from|by|and|or|use|using|see|like|via|is|are)"
                           r"\s*\(\s*(?:https?://|www\.)", re.IGNORECASE)


def clean_sentence(sentence: str, keep_links: bool = False) -> str:
    """One sentence without link targets (unless ``keep_links``) or a leading @name; the rest untouched.

    A link that stood for a word ("if use of (http://...) is a blessing") cannot go without breaking the
    sentence: such a sentence comes back empty, so it is never used.
    """
    if not keep_links:
        if _LINK_AS_WORD.search(sentence):
            return ""
        sentence = _LINK.sub("", sentence)
    sentence = _MENTION.sub("", sentence.strip())
    return re.sub(r"\s{2,}", " ", sentence).strip()


def usable(sentence: str) -> bool:
    """A sentence that reads right in another thread: whole, not code, not about the source's own page."""
    if len(sentence.split()) < 3 or sentence[-1:] not in ".!?\"')" or sentence.startswith(("+1", "-1")):
        return False
    if _points_at_its_page(sentence) or _CODEISH.search(sentence):
        return False
    if sentence.count("(") != sentence.count(")") or sentence.count("[") != sentence.count("]") or sentence.count('"') % 2:
        return False  # a bracket or quotation opened in a sentence we do not keep
    return sum(c.isalpha() for c in sentence) >= 0.6 * sum(not c.isspace() for c in sentence)


def _points_at_its_page(sentence: str, links: bool = False) -> bool:
    """Other answers, votes, edits, the site, an @name or a bare address: what only its source's page has. With
    ``links``, an address is the author's own words unless it leads into its source's network (another question,
    an answer there): people link out about as often as one post in four."""
    if _ELSEWHERE.search(sentence) or _MENTION_ANYWHERE.search(sentence):
        return True
    return bool(_OWN_NETWORK.search(sentence)) if links else bool(_BARE_LINK.search(sentence))


def fits_here(sentence: str, context: str | None) -> bool:
    """A sentence that refers to nothing the new conversation lacks: a day ("good luck on Monday!") or a person it
    addresses must be in the conversation's own words, and "as I said above" never is. With no context, only the
    last is checked."""
    needs = _needs(sentence)
    return needs is not None and _held(needs, None if context is None else context.lower())


def _needs(sentence: str) -> tuple[str, ...] | None:
    """What the conversation must hold for the sentence to fit there (the days and the names it speaks of, in
    lowercase), or None when it can fit nowhere ("as I said above")."""
    if _EARLIER.search(sentence):
        return None
    return (tuple(m.group(0).lower() for m in _WHEN.finditer(sentence))
            + tuple(m.group(1).lower() for m in _ADDRESSED.finditer(sentence)))


def _held(needs: tuple[str, ...], lowered_context: str | None) -> bool:
    return lowered_context is None or all(need in lowered_context for need in needs)


def sentences(body: str, context: str | None = None) -> list[str | None]:
    """The post's sentences in order, each cleaned, or None where it cannot be used (a break in the run).

    ``context`` is the new conversation's text: a sentence that refers to something absent from it is not used.
    """
    return [sentence for sentence, _ in _sentences_in_paragraphs(body, context)]


def _sentences_in_paragraphs(body: str, context: str | None = None) -> list[tuple[str | None, bool]]:
    """``sentences``, each with whether it opens a paragraph of the source: a passage keeps the paragraphs."""
    lowered = None if context is None else context.lower()
    return [(text if text is not None and _held(needs, lowered) else None, opens)
            for text, opens, needs in _read_sentences(body)]


@lru_cache(maxsize=1 << 16)
def _read_sentences(body: str) -> tuple[tuple[str | None, bool, tuple[str, ...]], ...]:
    """What a reply's sentences are wherever it goes (cleaned, or None when never usable; whether each opens a
    paragraph; what a conversation must hold for it), read once per reply: a chat turn weighs hundreds."""
    out: list[tuple[str | None, bool, tuple[str, ...]]] = []
    for block in _blocks(body):
        if block is None:
            out.append((None, True, ()))  # a quoted block or code: never part of a passage, and nothing runs across it
            continue
        for n, sentence in enumerate(split_sentences(block)):
            cleaned = clean_sentence(sentence)
            needs = _needs(cleaned) if cleaned and usable(cleaned) else None
            out.append((cleaned if needs is not None else None, n == 0, needs or ()))
    return tuple(out)


def _joined(found: list[tuple[str | None, bool]], start: int, end: int) -> str:
    """Sentences ``start`` to ``end`` as the source had them: one space within a paragraph, a blank line between."""
    text = ""
    for n in range(start, end):
        sentence, opens = found[n]
        if sentence is None:
            continue
        text += ("" if not text else "\n\n" if opens else " ") + sentence
    return text


def _blocks(body: str) -> list[str | None]:
    """Paragraphs as single lines (a sentence may wrap over a line break), quotes and code as None."""
    blocks: list[str | None] = []
    for paragraph in re.split(r"\n\s*\n", body):
        lines: list[str] = []
        for line in paragraph.split("\n"):
            if not line.strip():
                continue
            if line.lstrip().startswith(">") or line.startswith(("    ", "\t")):
                if lines:
                    blocks.append(" ".join(lines))
                    lines = []
                if blocks[-1:] != [None]:
                    blocks.append(None)
                continue
            lines.append(line.strip())
        if lines:
            blocks.append(" ".join(lines))
    return blocks


@dataclass(frozen=True)
class Passage:
    text: str
    first: int  # index of its first sentence in the source
    count: int  # sentences kept
    of: int  # sentences in the source

    @property
    def whole(self) -> bool:
        return self.first == 0 and self.count == self.of


def passage(body: str, min_words: int, max_words: int, context: str | None = None) -> Passage | None:
    """The earliest contiguous run of usable sentences that fits the persona's length, cut at a sentence end.

    A run that cannot reach ``min_words`` is still taken when it is the whole source (a short, complete reply);
    a lone sentence longer than ``max_words`` is allowed up to half again as long, and never cut mid-sentence.
    """
    marked = _sentences_in_paragraphs(body, context)
    found = [sentence for sentence, _ in marked]
    total = len(found)
    start = 0
    while start < total:
        if found[start] is None or (start > 0 and _CONNECTIVE.match(found[start] or "")):
            start += 1
            continue
        kept: list[str] = []
        count = 0
        end = start
        while end < total and found[end] is not None:
            n = len(found[end].split())  # type: ignore[union-attr]
            if kept and count + n > max_words:
                break
            if not kept and n > max_words * 1.5:
                break
            kept.append(found[end])  # type: ignore[arg-type]
            count += n
            end += 1
        if kept:
            candidate = Passage(_joined(marked, start, end), start, len(kept), total)
            if count >= min_words or candidate.whole:
                return candidate
        start = max(end, start + 1)
    return None


def question(body: str, max_words: int, context: str | None = None) -> Passage | None:
    """A question the reply asks, with the sentence before it when that one leads into it: a follow-up people asked."""
    marked = _sentences_in_paragraphs(body, context)
    found = [sentence for sentence, _ in marked]
    for j, sentence in enumerate(found):
        if sentence is None or not is_question(sentence) or len(sentence.split()) < 5:
            continue
        if j > 0 and _CONNECTIVE.match(sentence):
            continue  # "So what about ...?" needs what came before it
        start = j
        prior = found[j - 1] if j > 0 else None
        if prior is not None and not is_question(prior) and (j - 1 == 0 or not _CONNECTIVE.match(prior)) \
                and len(prior.split()) + len(sentence.split()) <= max_words:
            start = j - 1
        if len(sentence.split()) > max_words * 1.5:
            continue
        return Passage(_joined(marked, start, j + 1), start, j + 1 - start, len(found))
    return None


def is_question(text: str) -> bool:
    """A passage that asks: it ends with a question mark."""
    return text.rstrip("\"') ").endswith("?")


def refers_elsewhere(sentence: str, context: str | None) -> bool:
    """A sentence that points at its source's own page or conversation: other answers, votes, the site, an @name,
    a bare address, a day or a person the new conversation never mentions, "as I said above"."""
    return _points_at_its_page(sentence) or not fits_here(sentence, context)


def as_written(body: str, min_words: int, max_chars: int, context: str | None = None,
               from_start: bool = False) -> Passage | None:
    """The longest contiguous run of a reply as its author wrote it, code and lists included, within ``max_chars``:
    the people's own register (``style: people``), where a reply is posted at its own length.

    Only what points at the source's own conversation breaks the run (``refers_elsewhere``, a quoted block); a
    sentence ``passage`` would drop for its shape (code, a list item with no full stop) belongs to its reply here.
    A run starts with prose, and past the reply's start never mid-argument; it never ends on a sentence that leads
    into what it leaves out (a colon). Ties go to the earliest run. ``from_start``: only the run from the first
    unit (a question, told from its start).
    """
    units = _written_units(body, context)
    best: tuple[int, int, int] | None = None  # (chars, start, end)
    for start, (text, _, is_code) in enumerate(units[:1] if from_start else units):
        if text is None or is_code or (start > 0 and _CONNECTIVE.match(text)):
            continue
        chars, end = 0, start
        while end < len(units) and units[end][0] is not None and chars + len(units[end][0]) + 2 <= max_chars:
            chars += len(units[end][0]) + 2  # type: ignore[arg-type]
            end += 1
        while end > start and (not _balanced(units[start:end]) or (
                not units[end - 1][2] and _LEADS_ON.search(units[end - 1][0]))):  # type: ignore[arg-type]
            end -= 1  # half a quotation or an aside, or a sentence that leads into what the run leaves out
            chars -= len(units[end][0]) + 2  # type: ignore[arg-type]
        if end > start and (best is None or chars > best[0]):
            best = (chars, start, end)
    if best is None:
        return None
    _, start, end = best
    text = ""
    for unit, before, is_code in units[start:end]:
        text += ("" if not text else "\n\n" if is_code else before) + unit  # type: ignore[operator]
    found = Passage(text, start, end - start, len(units))
    return found if len(words(text)) >= min_words or found.whole else None


def _balanced(units: list[tuple[str | None, bool, bool]]) -> bool:
    """Whether the prose of a run closes every quotation and bracket it opens: a run cut inside one reads as half
    a quotation (code is left alone, its brackets are its own)."""
    prose = _NOT_BRACKET.sub("", " ".join(text for text, _, is_code in units if text is not None and not is_code))
    return (prose.count("(") == prose.count(")") and prose.count("[") == prose.count("]")
            and prose.count('"') % 2 == 0 and prose.count("\u201c") == prose.count("\u201d"))


def written(body: str, context: str | None = None) -> list[str | None]:
    """The reply's units as ``as_written`` keeps them (sentences of prose, whole code blocks), None where it breaks."""
    return [text for text, _, _ in _written_units(body, context)]


def _written_units(body: str, context: str | None) -> list[tuple[str | None, bool, bool]]:
    """(text, or None where a run breaks; what comes before it in its source: a blank line, a line break or a space;
    whether it is code) for each unit."""
    lowered = None if context is None else context.lower()
    return [(text if text is not None and _held(needs, lowered) else None, before, is_code)
            for text, before, is_code, needs in _read_units(body)]


@lru_cache(maxsize=1 << 16)
def _read_units(body: str) -> tuple[tuple[str | None, str, bool, tuple[str, ...]], ...]:
    """``_written_units`` wherever the reply goes, with what a conversation must hold for each unit; read once.

    A line break inside a paragraph is the author's (a list item, a line of its own): it stays, and a sentence
    never runs across it."""
    units: list[tuple[str | None, str, bool, tuple[str, ...]]] = []
    for paragraph in re.split(r"\n\s*\n", body.strip()):
        lines = [line.rstrip() for line in paragraph.split("\n") if line.strip()]
        if not lines:
            continue
        code = [line.startswith(("    ", "\t")) for line in lines]
        if any(line.lstrip().startswith(">") for line in lines) or (any(code) and not all(code)):
            units.append((None, "\n\n", False, ()))  # a quote of its own thread, or code woven into a line of prose
        elif all(code):
            units.append(("\n".join(lines), "\n\n", True, ()))
        else:
            for row, line in enumerate(lines):
                for n, sentence in enumerate(split_sentences(line.strip())):
                    cleaned = clean_sentence(sentence, keep_links=True)  # as written, links and all
                    needs = _needs(cleaned) if cleaned and not _points_at_its_page(cleaned, links=True) else None
                    before = " " if n else "\n" if row else "\n\n"
                    units.append((cleaned if needs is not None else None, before, False, needs or ()))
    return tuple(units)
