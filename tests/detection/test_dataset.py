"""murmur export and the dataset format: what is written, what is read, and every bad input refused
(naming the file and the problem) before any work starts."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from conversations.models import Provenance
from conversations.schema import migrate
from conversations.store import ForumStore
from detection.dataset import LABELS, MANIFEST, POST_LABELS, POSTS, THREADS, load_dataset
from detection.errors import DatasetError, ExportError, UnknownDetector
from detection.export import export_forum
from detection.pipeline import run_detection
from murmur.cli import cli


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def minimal(folder: Path, synthetic: int = 5, human: int = 10, posts_each: int = 3) -> Path:
    """The documented minimal format: posts.csv (post_id, account_id, created_at) and labels.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    posts, labels = [], []
    for a in range(synthetic + human):
        labels.append([f"u{a}", 1 if a < synthetic else 0])
        for k in range(posts_each):
            gap = 3600 if a < synthetic else 3600 * (1 + (a * 7 + k * 13) % 17)
            posts.append([f"p{a}-{k}", f"u{a}", 1_600_000_000 + a * 50_000 + k * gap])
    _write(folder / POSTS, ["post_id", "account_id", "created_at"], posts)
    _write(folder / LABELS, ["account_id", "synthetic"], labels)
    return folder


def _never(*_):
    raise AssertionError("work started before the input was checked")


def test_export_writes_every_file_with_manifest_counts_and_checksums(dataset_dir, built_forum):
    manifest = json.loads((dataset_dir / MANIFEST).read_text())
    assert manifest["schema_version"] == 1 and manifest["created_by"] == "murmur export"
    with sqlite3.connect(built_forum.db) as conn:
        posts = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
        bots = conn.execute("SELECT count(*) FROM gt_accounts").fetchone()[0]
    assert manifest["counts"]["posts"] == posts == len(_read(dataset_dir / POSTS))
    assert manifest["counts"]["synthetic_accounts"] == bots == 40
    assert manifest["counts"]["synthetic_posts"] == 240
    assert set(manifest["files"]) == {"accounts.csv", THREADS, POSTS, LABELS, POST_LABELS}
    for name, entry in manifest["files"].items():
        assert entry["rows"] == len(_read(dataset_dir / name))
        assert list(_read(dataset_dir / name)[0]) == entry["columns"]
    # ground truth only in the label files; the public files carry none of it
    public = "".join((dataset_dir / n).read_text() for n in ("accounts.csv", THREADS, POSTS))
    for secret in ("-persona", "run-test", "scripted"):
        assert secret not in public
    truth = {r["account_id"]: r for r in _read(dataset_dir / LABELS)}
    assert all(truth[a]["synthetic"] == "1" and truth[a]["run_id"] == "run-test" for a in built_forum.groups["regular"])
    assert all(truth[a]["synthetic"] == "0" and truth[a]["persona"] == "" for a in built_forum.humans)
    post_truth = _read(dataset_dir / POST_LABELS)
    assert sum(r["synthetic"] == "1" for r in post_truth) == 240
    assert {r["action"] for r in post_truth if r["synthetic"] == "1"} == {"answer"}
    posts_rows = _read(dataset_dir / POSTS)
    assert {r["site"] for r in posts_rows} >= {"beer", "coffee", ""}  # imported sites; bots' posts have none
    assert any(r["parent_id"] for r in posts_rows) and posts_rows[0]["created_at"].endswith("Z")


def test_export_is_one_snapshot_and_leaves_the_database_untouched(built_forum, tmp_path):
    before = built_forum.db.read_bytes()
    manifest = export_forum(built_forum.db, tmp_path / "again")
    assert built_forum.db.read_bytes() == before
    assert manifest.counts["posts"] == len(_read(tmp_path / "again" / POSTS))
    assert manifest.summary().startswith(f"{manifest.counts['accounts']} accounts (40 synthetic)")


async def test_export_while_the_forum_is_being_written(tmp_path):
    """A post committed during the export is either wholly in it (post and its label) or not at all."""
    db = tmp_path / "live.db"
    async with ForumStore(db) as store:
        person, _ = await store.create_account("person", "Person")
        thread, _, _ = await store.create_thread(person, "Title", "Opening words")
        bot, _, _ = await store.create_synthetic_account("bot", "Bot", "p", "r", "g")

        async def writer() -> None:
            for n in range(60):
                post, _ = await store.create_post(bot, thread.id, f"bot post {n}")
                await store.record_provenance(Provenance("p", "r", "g"), post_id=post.id)

        task = asyncio.create_task(writer())
        manifests = []
        while not task.done():
            manifests.append(await asyncio.to_thread(export_forum, db, tmp_path / f"e{len(manifests)}"))
        await task
    for n, manifest in enumerate(manifests):
        folder = tmp_path / f"e{n}"
        posts = {r["post_id"] for r in _read(folder / POSTS)}
        assert posts == {r["post_id"] for r in _read(folder / POST_LABELS)}
        assert manifest.counts["posts"] == len(posts)


def test_export_refuses_what_is_not_a_forum(tmp_path):
    with pytest.raises(ExportError, match="no forum database here"):
        export_forum(tmp_path / "missing.db", tmp_path / "out")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(ExportError, match="not a murmur forum database"):
        export_forum(other, tmp_path / "out")
    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(newer, isolation_level=None)
    migrate(conn)  # the forum's schema, then a version from a future murmur
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ExportError, match="schema version 99"):
        export_forum(newer, tmp_path / "out")


def test_dataset_reads_back_what_export_wrote(dataset_dir, built_forum):
    dataset = load_dataset(dataset_dir)
    forum, truth = dataset.forum, dataset.truth
    assert forum.n_accounts == 40 + len(built_forum.humans) and forum.n_posts == 677
    assert int(truth.account_synthetic.sum()) == 40 and int(truth.post_synthetic.sum()) == 240
    index = {a: i for i, a in enumerate(forum.account_ids)}
    assert all(truth.account_synthetic[index[a]] for a in built_forum.groups["duplicate"])
    assert all(truth.account_info[index[a]]["persona"] == "duplicate-persona" for a in built_forum.groups["duplicate"])
    assert forum.has_threads and forum.has_text and (forum.post_parent >= 0).sum() > 500
    assert not hasattr(forum, "account_site") and "site" not in forum.__dataclass_fields__


def test_minimal_format_without_manifest_runs(tmp_path):
    folder = minimal(tmp_path / "mine")
    dataset = load_dataset(folder)
    assert dataset.manifest is None and not dataset.forum.has_threads and not dataset.forum.has_text
    report = run_detection(folder, tmp_path / "report", progress=False, splits=2, bootstrap=20, embedder_factory=_never)
    assert report.results["families"]["measured"] == ["timing"]
    assert set(report.results["families"]["skipped"]) == {"text", "relevance", "coordination"}
    assert report.report_html.exists() and report.results["detectors"]["timing"]["accounts"]["roc_auc"]["mean"] > 0.9
    with pytest.raises(UnknownDetector, match="text cannot run on this dataset"):
        run_detection(folder, tmp_path / "r2", detectors=["text"], progress=False, embedder_factory=_never)


def _break(folder: Path, how: str) -> None:
    if how == "missing posts":
        (folder / POSTS).unlink()
        (folder / MANIFEST).unlink()
    elif how == "missing listed file":
        (folder / THREADS).unlink()
    elif how == "schema version":
        manifest = json.loads((folder / MANIFEST).read_text())
        manifest["schema_version"] = 2
        (folder / MANIFEST).write_text(json.dumps(manifest))
    elif how == "checksum":
        with (folder / POSTS).open("a", encoding="utf-8") as handle:
            handle.write("")  # nothing yet; replaced below
        rows = _read(folder / POSTS)
        rows[0]["body"] = "edited after export"
        _write(folder / POSTS, list(rows[0]), [list(r.values()) for r in rows])
    elif how in ("no synthetic", "no human"):
        rows = _read(folder / LABELS)
        for row in rows:
            row["synthetic"] = "0" if how == "no synthetic" else "1"
        _write(folder / LABELS, list(rows[0]), [list(r.values()) for r in rows])
        (folder / MANIFEST).unlink()
    elif how == "unknown account":
        with (folder / LABELS).open("a", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerow(["99999", "1", "ghost", "r", "g"])
        (folder / MANIFEST).unlink()
    elif how == "unlabelled author":
        rows = [r for r in _read(folder / LABELS) if r["account_id"] != "1"]
        _write(folder / LABELS, list(rows[0]), [list(r.values()) for r in rows])
        (folder / MANIFEST).unlink()
    elif how == "missing column":
        rows = _read(folder / LABELS)
        _write(folder / LABELS, ["account_id", "persona"], [[r["account_id"], r["persona"]] for r in rows])
        (folder / MANIFEST).unlink()
    elif how == "bad time":
        rows = _read(folder / POSTS)
        rows[3]["created_at"] = "yesterday"
        _write(folder / POSTS, list(rows[0]), [list(r.values()) for r in rows])
        (folder / MANIFEST).unlink()


BROKEN = [
    ("missing posts", "posts.csv: missing; a dataset needs posts.csv"),
    ("missing listed file", "threads.csv: listed in manifest.json but missing"),
    ("schema version", "manifest.json: schema_version 2, but this murmur reads version 1"),
    ("checksum", "posts.csv: its SHA-256 differs from manifest.json"),
    ("no synthetic", "labels.csv: no synthetic account has a post"),
    ("no human", "labels.csv: no human account has a post"),
    ("unknown account", "labels.csv: labels for 1 account(s) that are not in accounts.csv: '99999'"),
    ("unlabelled author", "posts.csv: 1 author(s) have no row in labels.csv ('1')"),
    ("missing column", "labels.csv: missing column(s) synthetic"),
    ("bad time", "posts.csv line 7: created_at 'yesterday' is not an ISO-8601 time or Unix seconds"),
]


@pytest.mark.parametrize("how, message", BROKEN, ids=[b[0] for b in BROKEN])
def test_bad_dataset_is_refused_naming_file_and_problem_before_any_work(dataset_dir, tmp_path, how, message):
    folder = tmp_path / "ds"
    shutil.copytree(dataset_dir, folder)
    _break(folder, how)
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        run_detection(folder, tmp_path / "report", progress=False, embedder_factory=_never)
    assert str(folder) in str(caught.value)
    assert not (tmp_path / "report").exists()  # nothing written: the check came first


def test_too_few_accounts_for_a_split(tmp_path):
    with pytest.raises(DatasetError, match=r"labels.csv: 3 synthetic and 10 human accounts have posts; a split by "
                                           r"account needs at least 4 synthetic and 8 human"):
        load_dataset(minimal(tmp_path / "small", synthetic=3))
    with pytest.raises(DatasetError, match="no dataset folder here"):
        load_dataset(tmp_path / "nowhere")


def test_cli_export_then_detect_errors_are_one_line(dataset_dir, built_forum, tmp_path):
    runner = CliRunner()
    out = runner.invoke(cli, ["export", "--db", str(built_forum.db), "--out", str(tmp_path / "ds")])
    assert out.exit_code == 0, out.output
    assert out.output.startswith(f"exported {40 + len(built_forum.humans)} accounts (40 synthetic), 90 threads, 677 posts")
    missing = runner.invoke(cli, ["export", "--db", str(tmp_path / "none.db"), "--out", str(tmp_path / "x")])
    assert missing.exit_code == 1 and missing.output.startswith("error: ") and "Traceback" not in missing.output
    (tmp_path / "ds" / LABELS).unlink()
    refused = runner.invoke(cli, ["detect", str(tmp_path / "ds")])
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines() == [
        f"error: {tmp_path / 'ds' / LABELS}: listed in manifest.json but missing; copy the whole dataset folder"]
    unknown = runner.invoke(cli, ["detect", str(dataset_dir), "--detectors", "timing,vibes"])
    assert unknown.exit_code == 1 and "no detector 'vibes'" in unknown.output
