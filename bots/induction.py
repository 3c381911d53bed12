"""Personas induced from a forum's people (``murmur personas induce``): each one stands for a group, never a person.

The people of each site are clustered by the threads they took part in before the run's start: a person is the
mean of the vectors of those threads (title and opening post, embedded through the project's Embedder and its
cache, as the anticipation profiles are). Each cluster of at least ``MIN_PEOPLE`` people becomes a persona
written in the people's register (``style: people``):

- its interests are phrased from the tags its threads carry, the tags most typical of the cluster against its
  site, each used by at least ``MIN_TAG_PEOPLE`` of its people (a label many people share, never one person's);
- its active hours are the shortest span of hours (UTC) that holds most of its people's posts;
- its pace and length are its people's medians (posts per active day, characters per post).

No persona keeps a person's handle or words: the name is the site and the cluster's leading tag, the bio
counts people and threads. A cluster smaller than ``MIN_PEOPLE`` is folded into the nearest larger one of its
site, or dropped with its site when the site has fewer people than that.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml

from bots.personas import Persona, PersonaError
from conversations.importers.jsonl import parse_thread, read_records
from conversations.models import ImportedThread, parse_time
from index.documents import ThreadText, thread_vectors

MIN_PEOPLE = 10  # a persona stands for a group of at least this many people (responsible use), never for one
MIN_TAG_PEOPLE = 3  # a tag becomes an interest only when this many of the group's people wrote under it
GROUP_SIZE = 40  # people per cluster aimed at: a site's people make about n / GROUP_SIZE personas
INTERESTS = 4
HOURS_SHARE = 0.8
NOT_TOPICS = {"untagged"}  # a site's placeholder tag says nothing of what a thread is about  # the active hours hold this share of the group's posts


class InductionError(PersonaError):
    """Data that cannot make a persona: too few people, or a window with no posts."""


@dataclass
class Person:
    site: str
    threads: set[int]
    hours: list[int]
    days: set[str]
    chars: list[int]


@dataclass(frozen=True)
class Group:
    """One cluster of people: what the persona is made from (counts, never names or words)."""

    site: str
    people: int
    threads: int
    tags: tuple[str, ...]
    hours: tuple[int, int]
    posts_per_day: int
    chars: int


@dataclass(frozen=True)
class ForumThreads:
    titles: list[str]
    openings: list[str]
    sites: list[str]
    tags: list[tuple[str, ...]]
    people: dict[tuple[str, str], Person]


def read_people(path: Path, before: datetime | None = None) -> ForumThreads:
    """Each person's threads and posts before ``before`` (all when None), from a murmur JSONL thread file."""
    threads = ((str(record.get("site") or ""), parse_thread(record, where)) for where, record in read_records(path))
    return people_of(threads, before, str(path))


def people_of(threads: Iterable[tuple[str, ImportedThread]], before: datetime | None = None,
              where: str = "the threads") -> ForumThreads:
    """Each person's threads and posts before ``before``, from (site, thread) pairs (an empty site: the thread id's
    prefix), e.g. what a replay holds before its window."""
    titles: list[str] = []
    openings: list[str] = []
    sites: list[str] = []
    tags: list[tuple[str, ...]] = []
    people: dict[tuple[str, str], Person] = {}
    for given, thread in threads:
        site = given or thread.external_id.split(":")[0] or "forum"
        number = len(titles)
        kept = False
        for post in thread.posts:
            moment = parse_time(post.created_at)
            if before is not None and moment >= before:
                continue
            kept = True
            person = people.setdefault((site, post.author_external_id), Person(site, set(), [], set(), []))
            person.threads.add(number)
            person.hours.append(moment.hour)
            person.days.add(moment.date().isoformat())
            person.chars.append(len(post.body))
        if kept:
            titles.append(thread.title)
            openings.append(thread.posts[0].body)
            sites.append(site)
            tags.append(tuple(thread.tags))
    if not people:
        when = f" before {before.isoformat()}" if before else ""
        raise InductionError(f"{where}: no posts{when}; give a window that holds the forum's history (--before)")
    return ForumThreads(titles, openings, sites, tags, people)


def _kmeans(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(vectors)


def _fold_small(vectors: np.ndarray, labels: np.ndarray, minimum: int) -> np.ndarray:
    """Clusters under ``minimum`` people folded, smallest first, into the nearest cluster by centroid."""
    labels = labels.copy()
    while True:
        sizes = Counter(labels.tolist())
        small = [c for c, n in sorted(sizes.items(), key=lambda kv: (kv[1], kv[0])) if n < minimum]
        if not small or len(sizes) == 1:
            return labels
        worst = small[0]
        centroids = {c: vectors[labels == c].mean(axis=0) for c in sizes if c != worst}
        mine = vectors[labels == worst].mean(axis=0)
        nearest = max(centroids, key=lambda c: (float(centroids[c] @ mine), -c))
        labels[labels == worst] = nearest


def active_hours(hours: Iterable[int], share: float = HOURS_SHARE) -> tuple[int, int]:
    """The shortest span of hours (it may wrap midnight) holding ``share`` of the posts, as [start, end)."""
    counts = Counter(hours)
    total = sum(counts.values())
    for width in range(1, 25):
        best = max(range(24), key=lambda s: (sum(counts[(s + i) % 24] for i in range(width)), -s))
        if sum(counts[(best + i) % 24] for i in range(width)) >= share * total:
            if width == 24:
                return (0, 24)
            return (best, (best + width) % 24 or 24)
    return (0, 24)


def _typical_tags(mine: Counter, site: Counter, people_of_tag: dict[str, set], limit: int) -> tuple[str, ...]:
    """Tags most typical of the group against its site (count x lift), each shared by enough of its people."""
    total_mine, total_site = sum(mine.values()) or 1, sum(site.values()) or 1
    scored = [(n * math.log1p((n / total_mine) / (site[t] / total_site)), t) for t, n in mine.items()
              if len(people_of_tag[t]) >= MIN_TAG_PEOPLE]
    return tuple(t for _, t in sorted(scored, key=lambda st: (-st[0], st[1]))[:limit])


def groups_of(forum: ForumThreads, embedder, *, minimum: int = MIN_PEOPLE, size: int = GROUP_SIZE,
              seed: int = 0) -> list[Group]:
    """The forum's people clustered per site into groups of at least ``minimum`` people."""
    if minimum < MIN_PEOPLE:
        raise InductionError(f"min_people: {minimum}; a persona stands for at least {MIN_PEOPLE} people, never fewer")
    vectors = thread_vectors(embedder, [ThreadText(i, t, o) for i, (t, o) in enumerate(zip(forum.titles, forum.openings))])
    by_site: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, person in sorted(forum.people.items()):
        by_site[person.site].append(key)
    site_tags = {site: Counter(t for i, s in enumerate(forum.sites) if s == site for t in forum.tags[i]) for site in by_site}
    groups = []
    for site, keys in sorted(by_site.items()):
        if len(keys) < minimum:
            continue
        people = np.stack([vectors[sorted(forum.people[k].threads)].mean(axis=0) for k in keys])
        people /= np.linalg.norm(people, axis=1, keepdims=True)
        k = max(1, min(len(keys) // minimum, round(len(keys) / size)))
        labels = _fold_small(people, _kmeans(people, k, seed) if k > 1 else np.zeros(len(keys), int), minimum)
        for cluster in sorted(set(labels.tolist())):
            members = [forum.people[key] for key, label in zip(keys, labels) if label == cluster]
            threads = set().union(*(m.threads for m in members))
            tags, people_of_tag = Counter(), defaultdict(set)
            for number, member in enumerate(members):
                for thread in member.threads:
                    for tag in forum.tags[thread]:
                        if tag in NOT_TOPICS:
                            continue
                        tags[tag] += 1
                        people_of_tag[tag].add(number)
            per_day = [len(m.hours) / len(m.days) for m in members]
            groups.append(Group(site, len(members), len(threads), _typical_tags(tags, site_tags[site], people_of_tag, 8),
                                active_hours(h for m in members for h in m.hours),
                                max(1, round(float(np.median(per_day)))),
                                int(np.median([c for m in members for c in m.chars]))))
    if not groups:
        counts = Counter(p.site for p in forum.people.values())
        raise InductionError(f"too few people: no site has {minimum} people who posted ({dict(sorted(counts.items()))}); "
                             "give more of the forum's history (a longer window, --before later) or more threads")
    return groups


def _phrase(tag: str) -> str:
    return tag.replace("-", " ").replace("_", " ")


def interests_of(group: Group) -> tuple[str, ...]:
    """Interest phrases from the group's typical tags, two tags to a phrase; the site when it has none."""
    tags = [_phrase(t) for t in group.tags]
    if not tags:
        return (f"questions on {group.site}",)
    phrases = [f"{tags[i]} and {tags[i + 1]}" if i + 1 < len(tags) else tags[i] for i in range(0, len(tags), 2)]
    return tuple(phrases[:INTERESTS])


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:20].strip("-") or "group"


def persona_of(group: Group, number: int) -> Persona:
    """The persona a group makes: its site and interests, its hours and pace, the people's register."""
    lead = _slug(group.tags[0]) if group.tags else "people"
    name = f"{_slug(group.site)}-{lead}-{number}"[:40].strip("-")
    interests = interests_of(group)
    bio = (f"Stands for {group.people} people of the {group.site} forum, who took part in {group.threads} threads "
           f"on {interests[0]}.")
    return Persona.model_validate({
        "name": name, "bio": bio, "interests": list(interests), "style": "people",
        "schedule": {"timezone": "UTC", "active_hours": list(group.hours), "posts_per_day": group.posts_per_day},
        "limits": {"max_posts_per_thread": 2, "max_reply_chars": max(400, min(4000, 3 * group.chars))},
    })


def induce(path: Path, embedder, *, before: datetime | None = None, minimum: int = MIN_PEOPLE,
           size: int = GROUP_SIZE, seed: int = 0) -> list[tuple[Persona, Group]]:
    return induce_from(read_people(path, before), embedder, minimum=minimum, size=size, seed=seed)


def induce_from(forum: ForumThreads, embedder, *, minimum: int = MIN_PEOPLE, size: int = GROUP_SIZE,
                seed: int = 0) -> list[tuple[Persona, Group]]:
    """Personas from people already read (``read_people``, ``people_of``)."""
    groups = groups_of(forum, embedder, minimum=minimum, size=size, seed=seed)
    return [(persona_of(g, n), g) for n, g in enumerate(groups, 1)]


def write_personas(induced: list[tuple[Persona, Group]], out: Path) -> list[Path]:
    """One YAML file per persona (the format ``bots/personas.py`` reads), and nothing else of the people."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for persona, group in induced:
        data = persona.model_dump(mode="json", exclude_defaults=True)
        data["style"] = "people"
        header = (f"# Induced by `murmur personas induce` from {group.people} people ({group.threads} threads) of "
                  f"{group.site}: a group, never one person; no handle or words of theirs are kept.\n")
        path = out / f"{persona.name}.yml"
        path.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        written.append(path)
    return written
