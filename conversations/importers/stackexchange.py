"""The official Stack Exchange data-dump format: a folder with Posts.xml, optional Comments.xml and Users.xml.

Questions become threads; answers reply to the question and comments to the
post they comment on. External ids follow the forum corpus: ``<site>:<id>``
for posts and users, ``<site>:c<id>`` for comments, where ``<site>`` is the
folder's name. Post bodies are HTML in the dump and are stored as plain text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from conversations.errors import InvalidInput
from conversations.models import ImportedPost, ImportedThread, format_time, parse_time

QUESTION, ANSWER = "1", "2"
_BLOCK_TAGS = {"p", "div", "pre", "blockquote", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "tr"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "a":
            self._links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
        elif tag == "a" and self._links:
            href = self._links.pop()
            if href and href.startswith("http"):
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of a post body: paragraphs kept, tags dropped, link targets kept in parentheses."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _rows(path: Path) -> Iterator[dict[str, str]]:
    try:
        for _, element in ET.iterparse(path, events=("end",)):
            if element.tag == "row":
                yield dict(element.attrib)
                element.clear()
    except ET.ParseError as exc:
        raise InvalidInput(path.name, f"not a valid data-dump XML file ({exc})") from None


def _tags(raw: str | None) -> tuple[str, ...]:
    return tuple(t for t in re.split(r"[<>|]", raw or "") if t)


def _time(raw: str | None, where: str) -> str:
    try:
        return format_time(parse_time(raw or ""))
    except ValueError:
        raise InvalidInput(where, f"CreationDate {raw!r} is not an ISO-8601 time") from None


def count_questions(folder: Path) -> int:
    return sum(1 for row in _rows(folder / "Posts.xml") if row.get("PostTypeId") == QUESTION)


def _parents_first(posts: list[ImportedPost]) -> list[ImportedPost]:
    """Creation order, except that a post whose parent comes later (clock skew in dumps) waits for it."""
    ordered: list[ImportedPost] = [posts[0]]
    seen = {posts[0].external_id}
    waiting: dict[str, list[ImportedPost]] = defaultdict(list)

    def place(post: ImportedPost) -> None:
        ordered.append(post)
        seen.add(post.external_id)
        for child in waiting.pop(post.external_id, []):
            place(child)

    for post in sorted(posts[1:], key=lambda p: p.created_at):
        if post.parent_external_id in seen:
            place(post)
        else:
            waiting[post.parent_external_id or ""].append(post)
    return ordered  # posts whose parent never appears (deleted upstream) are left out


def read_dump(folder: Path) -> Iterator[ImportedThread]:
    folder = Path(folder)
    site = folder.name
    users: dict[str, str] = {}
    if (folder / "Users.xml").exists():
        users = {row["Id"]: row.get("DisplayName", "") for row in _rows(folder / "Users.xml") if "Id" in row}

    def author(row: dict[str, str], id_key: str, name_key: str) -> tuple[str, str | None]:
        user_id = row.get(id_key)
        if user_id:
            return f"{site}:{user_id}", users.get(user_id) or row.get(name_key)
        return f"{site}:anon", row.get(name_key)

    questions: dict[str, dict[str, str]] = {}
    replies: dict[str, list[ImportedPost]] = defaultdict(list)
    thread_of: dict[str, str] = {}
    for row in _rows(folder / "Posts.xml"):
        where = f"Posts.xml row Id={row.get('Id')}"
        if row.get("PostTypeId") == QUESTION:
            questions[row["Id"]] = row
            thread_of[row["Id"]] = row["Id"]
        elif row.get("PostTypeId") == ANSWER and row.get("ParentId"):
            external, name = author(row, "OwnerUserId", "OwnerDisplayName")
            replies[row["ParentId"]].append(ImportedPost(
                external_id=f"{site}:{row['Id']}", author_external_id=external, author_name=name,
                created_at=_time(row.get("CreationDate"), where), body=html_to_text(row.get("Body", "")),
                parent_external_id=f"{site}:{row['ParentId']}"))
            thread_of[row["Id"]] = row["ParentId"]
    if (folder / "Comments.xml").exists():
        for row in _rows(folder / "Comments.xml"):
            question = thread_of.get(row.get("PostId", ""))
            if question is None or not row.get("Text", "").strip():
                continue
            external, name = author(row, "UserId", "UserDisplayName")
            replies[question].append(ImportedPost(
                external_id=f"{site}:c{row['Id']}", author_external_id=external, author_name=name,
                created_at=_time(row.get("CreationDate"), f"Comments.xml row Id={row.get('Id')}"), body=row["Text"].strip(),
                parent_external_id=f"{site}:{row['PostId']}"))
    for question_id, row in sorted(questions.items(), key=lambda item: int(item[0])):
        external, name = author(row, "OwnerUserId", "OwnerDisplayName")
        opening = ImportedPost(
            external_id=f"{site}:{question_id}", author_external_id=external, author_name=name,
            created_at=_time(row.get("CreationDate"), f"Posts.xml row Id={question_id}"),
            body=html_to_text(row.get("Body", "")) or "(no text)")
        yield ImportedThread(
            external_id=f"{site}:{question_id}", title=row.get("Title") or "(untitled)",
            posts=tuple(_parents_first([opening, *replies.get(question_id, [])])),
            tags=_tags(row.get("Tags")), source_url=None)
