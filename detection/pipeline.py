"""``murmur detect``: load a dataset, compute signals, evaluate detectors by account, write the report.

Offline: nothing here opens a socket. The embedding model loads from its
local package folder with the hub switched off in code (set again here,
before anything imports huggingface_hub, which reads the switch at import).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from detection.dataset import Dataset, load_dataset, summarize
from detection.detectors import (
    COMBINED_DETECTORS,
    DETECTORS,
    FAMILY_DETECTORS,
    BestFeatureDetector,
    leave_one_out,
    make_detector,
)
from detection.errors import DetectionError, UnknownDetector
from detection.evaluate import (
    CALIBRATION_FRACTION,
    TEST_FRACTION,
    Evaluation,
    feature_separation,
    make_splits,
    paired_difference,
    prepare_splits,
    run_evaluation,
)
from detection.formatting import num, pct, with_interval
from detection.features import (
    DEFAULT_WINDOW_S,
    FAMILIES,
    account_features,
    available_families,
    embed_forum,
    embedding_work,
    post_signals,
)
from detection.metrics import FPR_LEVELS
from detection.two_sample import distances, two_sample_tests

REPORT_SCHEMA_VERSION = 1
POSTS_SEEN = (1, 2, 3, 5, 10, 20)
TRIVIAL = 0.98  # a single feature separating the classes this well is flagged in the report
DEFAULT_SPLITS = 5
DEFAULT_BOOTSTRAP = 200


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


@dataclass(frozen=True)
class DetectionReport:
    """Where the report went, and its numbers (the same as report.json)."""

    out_dir: Path
    report_html: Path
    report_json: Path
    results: dict[str, Any]

    def summary_lines(self) -> list[str]:
        r = self.results
        d = r["dataset"]
        lines = [f"dataset: {d['accounts']['synthetic']} synthetic and {d['accounts']['human']} human accounts, "
                 f"{d['posts']['synthetic']} synthetic and {d['posts']['human']} human posts, {d['threads']} threads "
                 f"({r['protocol']['splits']} splits by account, seed {r['protocol']['seed']})"]
        for name, entry in r["detectors"].items():
            if name in FAMILY_DETECTORS or name.startswith("combined without"):
                continue
            m = entry["accounts"]
            label = name
            if name == "baseline" and r["baseline_choices"]["accounts"]:
                label = f"baseline (best single feature: {next(iter(r['baseline_choices']['accounts']))})"
            lines.append(f"{label}: ROC-AUC {with_interval(m['roc_auc'])}, PR-AUC {with_interval(m['pr_auc'])}, "
                         f"detects {pct(m['dr_at_1pct_fpr']['mean'], 0)} at 1% FPR on accounts")
        lines.append(r["closing_note"])
        lines.append(f"report: {self.report_html}")
        return lines


def resolve_detectors(requested: Sequence[str] | None, available: dict[str, str | None]) -> list[str]:
    """The detectors to run, in report order; unknown names and unmeasurable families asked for fail here.

    By default every detector runs, except those of families the dataset cannot measure (the report says why).
    """
    if not requested:
        return [n for n in DETECTORS if n not in FAMILY_DETECTORS or available[n] is None]
    names = list(dict.fromkeys(n.strip() for item in requested for n in item.split(",") if n.strip()))
    if not names:
        raise UnknownDetector(f"--detectors: name at least one of {', '.join(DETECTORS)}")
    for name in names:
        if name not in DETECTORS:
            raise UnknownDetector(f"--detectors: no detector {name!r}; choose from {', '.join(DETECTORS)}")
        if name in FAMILY_DETECTORS and available[name] is not None:
            raise UnknownDetector(f"--detectors: {name} cannot run on this dataset ({available[name]})")
    return [n for n in DETECTORS if n in names]


@contextmanager
def _bar(progress: bool, total: int, desc: str, unit: str) -> Iterator[tqdm]:
    with tqdm(total=total, desc=desc, unit=unit, disable=not progress, dynamic_ncols=True, leave=True) as bar:
        yield bar


def run_detection(dataset_dir: Path, out_dir: Path, *, detectors: list[str] | None = None, seed: int = 0,
                  progress: bool = True, embedder=None, embedder_factory: Callable[[], Any] | None = None,
                  splits: int = DEFAULT_SPLITS, bootstrap: int = DEFAULT_BOOTSTRAP,
                  window_minutes: float = DEFAULT_WINDOW_S / 60) -> DetectionReport:
    """Evaluate detectors on a dataset folder and write report.html, report.json and plots into ``out_dir``.

    Every input problem is raised (as a DetectionError) before any work starts. ``embedder`` (or
    ``embedder_factory``, called only when text or relevance is measured) supplies embeddings;
    without either, one is opened with the default index settings.
    """
    _offline()
    if not 1 <= splits <= 100:
        raise DetectionError(f"--splits: {splits} is out of range; use 1 to 100")
    if not 10 <= bootstrap <= 10_000:
        raise DetectionError(f"--bootstrap: {bootstrap} is out of range; use 10 to 10000")
    if not window_minutes > 0:
        raise DetectionError(f"--window-minutes: {window_minutes} must be positive")
    dataset = load_dataset(dataset_dir)
    available = available_families(dataset.forum)
    names = resolve_detectors(detectors, available)
    usable = tuple(f for f in FAMILIES if available[f] is None)
    families = usable if set(names) & set(COMBINED_DETECTORS) else tuple(n for n in names if n in FAMILY_DETECTORS)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DetectionError(f"{out_dir}: cannot create the report folder ({exc.strerror}); pass another --out") from None

    forum, truth = dataset.forum, dataset.truth
    vectors = None
    if {"text", "relevance"} & set(families):
        if embedder is None:
            embedder = embedder_factory() if embedder_factory else _default_embedder()
        with _bar(progress, embedding_work(forum), "embedding posts and threads", "text") as bar:
            vectors = embed_forum(forum, embedder, bar.update)

    limits = [k for k in POSTS_SEEN if k < int(np.bincount(forum.post_account).max())]
    with _bar(progress, 2 + len(limits), "computing signals", "step") as bar:
        signals = post_signals(forum, vectors, families, window_minutes * 60.0)
        bar.update()
        accounts = account_features(signals)
        bar.update()
        limited = {}
        for k in limits:
            limited[k] = account_features(signals, k)
            bar.update()

    factories: dict[str, Callable] = {n: (lambda n=n: make_detector(n, families, seed)) for n in names}
    ablate = "combined" in names and len(families) >= 2
    if ablate:
        for family in families:
            factories[f"combined without {family}"] = lambda f=family: leave_one_out(f, families, seed)
    data = prepare_splits(forum, truth, make_splits(truth.account_synthetic, splits, seed), bootstrap, seed)
    curve_names = [n for n in names if n in ("combined", "baseline")] or names[:1]
    seen: dict[int, Evaluation] = {}
    # Many small models: one BLAS/OpenMP thread each is faster, and avoids contending with the threads the
    # embedding model (torch) keeps spinning (measured on 2 cores: 14 s -> 4 s for a 60-account forum).
    with threadpool_limits(1):
        with _bar(progress, len(data) * len(factories), "fitting and scoring detectors", "model") as bar:
            evaluation = run_evaluation(accounts, signals.posts, truth, data, factories, step=bar.update)
        with _bar(progress, len(data) * len(curve_names) * len(limits), "AUC by posts seen per account", "model") as bar:
            for k in limits:
                seen[k] = run_evaluation(limited[k], signals.posts, truth, data, {n: factories[n] for n in curve_names},
                                         with_posts=False, step=bar.update)

    results = _results(dataset, names, families, available, evaluation, seen, curve_names, accounts, signals.posts,
                       data, seed=seed, splits=splits, bootstrap=bootstrap, window_minutes=window_minutes, ablate=ablate)
    from detection.report import write_report

    html, json_path = write_report(out_dir, results, evaluation, seen)
    return DetectionReport(out_dir=out_dir, report_html=html, report_json=json_path, results=results)


def _default_embedder():
    from index.build import open_embedder
    from index.settings import IndexSettings

    return open_embedder(IndexSettings())


def _results(dataset: Dataset, names: list[str], families: tuple[str, ...], available: dict[str, str | None],
             evaluation: Evaluation, seen: dict[int, Evaluation], curve_names: list[str], accounts, posts, data,
             *, seed: int, splits: int, bootstrap: int, window_minutes: float, ablate: bool) -> dict[str, Any]:
    from conversations.models import utc_now

    truth = dataset.truth
    detectors = {}
    for name in evaluation.accounts:
        detectors[name] = {
            "families": list(families) if name in COMBINED_DETECTORS or name.startswith("combined without")
            else [name],
            "accounts": evaluation.accounts[name].summary(),
            "posts": evaluation.posts[name].summary(),
        }
    ablation = {}
    if ablate:
        for family in families:
            without = f"combined without {family}"
            ablation[family] = {
                "alone": detectors[family]["accounts"]["roc_auc"] if family in detectors else None,
                "without": detectors[without]["accounts"]["roc_auc"],
                "auc_drop_without": paired_difference(evaluation.accounts["combined"], evaluation.accounts[without]),
                "posts_alone": detectors[family]["posts"]["roc_auc"] if family in detectors else None,
                "posts_without": detectors[without]["posts"]["roc_auc"],
            }
    choices: dict[str, Counter] = {"accounts": Counter(), "posts": Counter()}
    for detector in evaluation.fitted.get("baseline", []):
        assert isinstance(detector, BestFeatureDetector)
        if detector.account_choice:
            choices["accounts"][f"{detector.account_choice.name} ({detector.account_choice.family})"] += 1
        if detector.post_choice:
            choices["posts"][f"{detector.post_choice.name} ({detector.post_choice.family})"] += 1
    posts_seen = {name: [{"k": k, **{m: seen[k].accounts[name].summary()[m] for m in ("roc_auc", "pr_auc")}}
                         for k in sorted(seen)] + [{"k": "all", **{m: evaluation.accounts[name].summary()[m]
                                                                  for m in ("roc_auc", "pr_auc")}}]
                  for name in curve_names}
    features = {"accounts": feature_separation(accounts, truth.account_synthetic),
                "posts": feature_separation(posts, truth.post_synthetic)}
    two_sample = two_sample_tests(accounts, truth.account_synthetic, families, seed)
    apart = distances(dataset.forum, truth.account_synthetic, truth.post_synthetic, posts)
    summary = summarize(dataset)
    sizes = data[0].split
    protocol = {
        "seed": seed, "splits": splits, "bootstrap_per_split": bootstrap, "test_fraction": TEST_FRACTION,
        "calibration_fraction": CALIBRATION_FRACTION, "fpr_levels": list(FPR_LEVELS), "window_minutes": window_minutes,
        "split_sizes": {
            "fit": {"synthetic": int(truth.account_synthetic[sizes.fit].sum()), "human": int((~truth.account_synthetic[sizes.fit]).sum())},
            "calibration": {"human": int(sizes.calibration.size)},
            "test": {"synthetic": int(truth.account_synthetic[sizes.test].sum()), "human": int((~truth.account_synthetic[sizes.test]).sum())},
        },
    }
    results: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "generated_at": utc_now(),
        "dataset": summary,
        "protocol": protocol,
        "families": {"measured": list(families), "skipped": {f: r for f, r in available.items() if r is not None}},
        "detectors": detectors,
        "ablation": ablation,
        "baseline_choices": {k: dict(v.most_common()) for k, v in choices.items()},
        "posts_seen": posts_seen,
        "features": features,
        "two_sample": two_sample,
        "distances": apart,
    }
    if "baseline" in evaluation.accounts:
        learned = [n for n in ("combined", "boosted") if n in evaluation.accounts]
        if learned:
            best = max(learned, key=lambda n: detectors[n]["accounts"]["roc_auc"]["mean"])
            ours, base = evaluation.accounts[best], evaluation.accounts["baseline"]
            results["comparison"] = {"detector": best, "baseline": "baseline",
                                     "roc_auc_difference": paired_difference(ours, base, "roc_auc"),
                                     "dr_at_1pct_fpr_difference": paired_difference(ours, base, "dr_at_1pct_fpr")}
    flagged = _notes(results)
    results["notes"] = [text for _, text in flagged]
    results["flags"] = sorted({flag for flag, _ in flagged})  # the honesty flags raised, by name
    results["closing_note"] = _closing_note(results)
    return _clean(results)


def _notes(r: dict[str, Any]) -> list[tuple[str, str]]:
    """What a careful reader should know before trusting the numbers: (flag, note) pairs."""
    notes = [("dataset", note) for note in r["dataset"]["notes"]]
    ranges = r["dataset"]["time_range"]
    if ranges["synthetic"] and ranges["human"] and (ranges["synthetic"][0] > ranges["human"][1] or ranges["human"][0] > ranges["synthetic"][1]):
        notes.append(("periods_do_not_overlap", f"Synthetic posts ({ranges['synthetic'][0]} to {ranges['synthetic'][1]}) and human posts "
                     f"({ranges['human'][0]} to {ranges['human'][1]}) come from periods that do not overlap. No feature uses "
                     "dates, but gaps and reply latencies between posts of such different periods (e.g. a bot replying "
                     "today to a thread from years ago) can separate the classes without detecting anything a platform "
                     "would face."))
    trivial = [f for f in r["features"]["accounts"] if f["separation"] is not None and f["separation"] >= TRIVIAL]
    if trivial:
        listed = ", ".join(f"{f['name']} ({f['family']}, {f['separation']:.3f})" for f in trivial[:6])
        notes.append(("trivial_feature", f"{len(trivial)} account feature(s) separate synthetic from human accounts almost perfectly on "
                     f"their own: {listed}. A signal this clean usually says as much about how the dataset was put "
                     "together (simulated clocks, imported histories, generator templates) as about the detectors; "
                     "read the detectors' numbers with that in mind."))
    med = r["dataset"]["posts_per_account_median"]
    if med["synthetic"] >= 3 * max(med["human"], 1) or med["human"] >= 3 * max(med["synthetic"], 1):
        notes.append(("activity_differs", f"Synthetic accounts have a median of {med['synthetic']:g} posts and human accounts {med['human']:g}: "
                     "activity alone differs a lot, and features defined only from two or three posts on are missing "
                     "(imputed) for most accounts of the quieter class."))
    sizes = r["protocol"]["split_sizes"]
    if sizes["calibration"]["human"] < 100:
        notes.append(("small_calibration", f"Each test part holds {sizes['test']['synthetic']} synthetic and {sizes['test']['human']} human "
                     f"accounts, and thresholds are set on {sizes['calibration']['human']} calibration humans: at 1% "
                     "false positives that threshold is the highest calibration score, so detection rates at 1% are "
                     "coarse. The false-positive rate each threshold actually reached on test humans is reported beside it."))
    for family, reason in r["families"]["skipped"].items():
        notes.append(("family_skipped", f"The {family} family was not measured: {reason}."))
    return notes


def _closing_note(r: dict[str, Any]) -> str:
    """Does the best learned detector beat the best single feature? On ranking (ROC-AUC) and where it matters
    operationally (detection at 1% false positives), each by a paired bootstrap interval above zero."""
    comparison = r.get("comparison")
    if comparison is None:
        return "No closing comparison: run the baseline and the combined (or boosted) detector to compare them."
    best = comparison["detector"]
    mine, base = r["detectors"][best]["accounts"], r["detectors"]["baseline"]["accounts"]
    chosen = next(iter(r["baseline_choices"]["accounts"]), "n/a")
    auc, dr = comparison["roc_auc_difference"], comparison["dr_at_1pct_fpr_difference"]

    def wins(diff: dict[str, Any]) -> bool:
        return diff["ci"][0] is not None and diff["ci"][0] > 0

    def diff_text(diff: dict[str, Any]) -> str:
        return f"{num(diff['mean'])} [{num(diff['ci'][0])}, {num(diff['ci'][1])}]"

    ranking = f"ROC-AUC {with_interval(mine['roc_auc'])} against {with_interval(base['roc_auc'])}, difference {diff_text(auc)}"
    at_1 = (f"at 1% false positives it detects {pct(mine['dr_at_1pct_fpr']['mean'], 0)} of synthetic accounts against "
            f"{pct(base['dr_at_1pct_fpr']['mean'], 0)}, difference {diff_text(dr)}")
    versus = f"the best single feature (mostly {chosen}, chosen on each training split)"
    if wins(auc) and wins(dr):
        return f"The {best} detector beats {versus} on accounts: {ranking}; and {at_1}."
    if wins(auc):
        return f"The {best} detector ranks accounts better than {versus}: {ranking}; but {at_1}, not a clear gain."
    if wins(dr):
        return (f"The {best} detector ranks accounts no better than {versus} ({ranking}, which includes zero), "
                f"but {at_1}: the single feature cannot flag accounts at a low false-positive rate.")
    note = (f"The trivial baseline cannot be beaten on this dataset: {versus} does as well as the {best} detector "
            f"on accounts ({ranking}; {at_1}); neither interval excludes zero.")
    if base["roc_auc"]["mean"] is not None and base["roc_auc"]["mean"] >= TRIVIAL:
        note += (" One feature already separates the classes almost perfectly, which says more about how this dataset "
                 "was assembled than about what detection can do; see the notes.")
    return note


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, numpy scalars become Python numbers, floats are rounded."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return round(value, 6) if math.isfinite(value) else None
    return value
