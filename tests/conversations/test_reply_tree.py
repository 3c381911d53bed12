"""Where a thread page shows each post (conversations.pages.reply_tree): replies under what they answer, in order."""

from __future__ import annotations

from conversations.models import Account, Post
from conversations.pages import MAX_DEPTH, reply_tree

AUTHOR = Account(1, "ana", "Ana", "2026-01-01T00:00:00.000000Z")


def _posts(*parents: int | None) -> list[Post]:
    """Posts 1, 2, ... of one thread, post i replying to ``parents[i - 1]``."""
    return [Post(i, 1, parent, AUTHOR, f"post {i}", f"2026-01-01T00:00:{i:02d}.000000Z")
            for i, parent in enumerate(parents, start=1)]


def _shape(posts: list[Post]) -> tuple[list[int], dict[int, list[int]]]:
    top, replies = reply_tree(posts)
    return [p.id for p in top], {parent: [p.id for p in under] for parent, under in replies.items()}


def test_replies_sit_under_their_parent_and_answers_at_the_top_level():
    # 1 opens; 2 answers the thread, 3 answers the opening post, 4 and 6 reply to 2, 5 to 4, 7 to a post not here
    assert _shape(_posts(None, None, 1, 2, 4, 2, 99)) == ([1, 2, 3, 7], {2: [4, 6], 4: [5]})


def test_nesting_stops_at_max_depth_and_deeper_replies_line_up():
    chain = _posts(None, None, *range(2, MAX_DEPTH + 4))  # 2 answers; each later post replies to the one before
    top, replies = _shape(chain)
    assert top == [1, 2]
    deepest = 2 + MAX_DEPTH  # the post at depth MAX_DEPTH: replies to it show beside it, under its own parent
    assert all(replies[i] == [i + 1] for i in range(2, deepest - 1))
    assert replies[deepest - 1] == [deepest, deepest + 1, deepest + 2] and deepest not in replies


def test_an_empty_thread_has_nothing_to_show():
    assert reply_tree([]) == ([], {})
