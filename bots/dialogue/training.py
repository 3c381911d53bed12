"""Training the shared Rasa model, only when its inputs change.

The model's name is a fingerprint of everything it is made from: every file of
the Rasa project (``bots/dialogue/rasa/``), the epochs, and the Rasa release. A model
that exists under that name is used as it is; a change to any of them trains a
new one. ``rasa train`` runs as a subprocess in Rasa's own environment
(``.venv-rasa``, Python 3.10); its output goes to a log file beside the models,
and the model appears under its final name only once it is complete, so an
interrupted training never leaves a model that would be taken as finished.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from bots.errors import RasaError
from bots.settings import DEFAULT_RASA_VENV

log = logging.getLogger("murmur.rasa")

RASA_DIR = Path(__file__).resolve().parent / "rasa"
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VENV = DEFAULT_RASA_VENV  # kept here for the Rasa side's callers
MODEL_PREFIX = "murmur-"
# Rasa's own output folders, made when someone runs `rasa train` or `rasa test` inside the project: not inputs.
OUTPUT_DIRS = {"models", "results"}
TAIL_LINES = 25
_NOISE = re.compile(r"(Pending)?DeprecationWarning:|MovedIn20Warning:")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b\(B|\x1b\(0")   # Rasa colours its warnings
# The components whose training length is murmur's `rasa.epochs`.
EPOCH_COMPONENTS = {"DIETClassifier", "TEDPolicy"}


@dataclass(frozen=True)
class TrainResult:
    model_path: Path
    trained: bool        # False: a model with this fingerprint was already there
    seconds: float       # time spent training (0 when skipped)
    fingerprint: str


def rasa_bin_in(venv: Path) -> Path:
    """The ``rasa`` command of a virtual environment."""
    return venv / "bin" / "rasa"


def require_rasa(rasa_bin: Path) -> None:
    if not (rasa_bin.is_file() and os.access(rasa_bin, os.X_OK)):
        raise RasaError(f"{rasa_bin} is missing: run `make setup` (it creates .venv-rasa, Rasa's own "
                        "Python 3.10 environment)")


def rasa_version(rasa_bin: Path) -> str:
    """The Rasa release installed beside ``rasa_bin``, read from its package metadata (no Rasa import)."""
    require_rasa(rasa_bin)
    venv = rasa_bin.parent.parent
    found = sorted(venv.glob("lib/python3*/site-packages/rasa-[0-9]*.dist-info"))
    if found:
        return found[-1].name.removeprefix("rasa-").removesuffix(".dist-info")
    python = rasa_bin.parent / "python"
    try:
        done = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('rasa'))"],
                              capture_output=True, text=True, timeout=60, env=rasa_environment())
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RasaError(f"cannot tell which Rasa is installed in {venv} ({exc}); run `make setup`") from None
    if done.returncode != 0 or not done.stdout.strip():
        raise RasaError(f"no Rasa package in {venv}: run `make setup`")
    return done.stdout.strip()


def project_files(rasa_dir: Path) -> list[Path]:
    """Every file of the Rasa project, in a stable order (hidden files, caches and Rasa's outputs left out)."""

    def wanted(path: Path) -> bool:
        parts = path.relative_to(rasa_dir).parts
        return not (parts[0] in OUTPUT_DIRS or any(part.startswith(".") or part == "__pycache__" for part in parts))

    files = [p for p in rasa_dir.rglob("*") if p.is_file() and wanted(p)]
    return sorted(files, key=lambda p: p.relative_to(rasa_dir).as_posix())


def fingerprint(rasa_dir: Path, *, epochs: int, rasa_version: str) -> str:
    """sha256 over every project file (relative path and bytes), the epochs and the Rasa release."""
    digest = hashlib.sha256()
    digest.update(f"murmur-rasa-model\0epochs={epochs}\0rasa={rasa_version}\0".encode())
    for path in project_files(rasa_dir):
        data = path.read_bytes()
        digest.update(path.relative_to(rasa_dir).as_posix().encode() + b"\0")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def model_name(fp: str) -> str:
    return f"{MODEL_PREFIX}{fp[:16]}"


def config_with_epochs(config_path: Path, epochs: int) -> dict:
    """The project's config.yml with DIETClassifier's and TEDPolicy's epochs set."""
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RasaError(f"{config_path}: cannot read the Rasa config ({exc})") from None
    if not isinstance(config, dict):
        raise RasaError(f"{config_path}: not a Rasa config (the top level must be a mapping)")
    seen = set()
    for section in ("pipeline", "policies"):
        for component in config.get(section) or []:
            if isinstance(component, dict) and component.get("name") in EPOCH_COMPONENTS:
                component["epochs"] = epochs
                seen.add(component["name"])
    if missing := EPOCH_COMPONENTS - seen:
        raise RasaError(f"{config_path}: no {', '.join(sorted(missing))} to set the epochs of")
    return config


def rasa_environment() -> dict[str, str]:
    """The environment for Rasa's processes: murmur's Python settings removed, telemetry off, less noise."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONWARNINGS"}}
    env.update({
        "RASA_TELEMETRY_ENABLED": "false",       # Rasa would otherwise report usage over the network
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONUNBUFFERED": "1",                 # the log file follows the process as it goes
    })
    return env


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last lines of a Rasa log as a terminal would show them: progress bars collapsed, colours and
    library deprecation warnings (Rasa's stack prints dozens) left out."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")   # keep the \r of progress bars
    except OSError:
        return "(no log)"
    kept: list[str] = []
    skipping = 0    # lines left of a warning being dropped: its message, then its indented source line
    for raw in _ANSI.sub("", text).split("\n"):
        line = raw.rsplit("\r", 1)[-1].rstrip()
        if _NOISE.search(line):
            skipping = 3
            continue
        if skipping:
            skipping = 0 if line.startswith("  ") else skipping - 1
            continue
        if line.strip():
            kept.append(line)
    return "\n".join(kept[-lines:]) or "(the log is empty)"


@contextlib.contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    """One training per model folder at a time (a second waits, then finds the model made)."""
    with (out_dir / ".train.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def train_model(rasa_dir: Path, out_dir: Path, *, epochs: int, rasa_bin: Path, force: bool = False,
                note: Callable[[str], None] | None = None) -> TrainResult:
    """Train the model for ``rasa_dir`` into ``out_dir``, unless a model with the same fingerprint is there.

    ``note`` gets a one-line message before a training starts (default: the ``murmur.rasa`` log).
    """
    if epochs < 1:
        raise RasaError(f"epochs must be at least 1, got {epochs}")
    rasa_dir, out_dir, rasa_bin = rasa_dir.absolute(), out_dir.absolute(), rasa_bin.absolute()
    for needed in ("config.yml", "domain.yml", "data"):
        if not (rasa_dir / needed).exists():
            raise RasaError(f"{rasa_dir / needed} is missing: {rasa_dir} is not a Rasa project")
    fp = fingerprint(rasa_dir, epochs=epochs, rasa_version=rasa_version(rasa_bin))
    name = model_name(fp)
    model = out_dir / f"{name}.tar.gz"
    if model.exists() and not force:
        return TrainResult(model, trained=False, seconds=0.0, fingerprint=fp)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(out_dir):
        if model.exists() and not force:
            return TrainResult(model, trained=False, seconds=0.0, fingerprint=fp)
        logfile = out_dir / f"{name}.log"
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{name}-") as tmp:
            work = Path(tmp)
            config = work / "config.yml"
            config.write_text(yaml.safe_dump(config_with_epochs(rasa_dir / "config.yml", epochs), sort_keys=False),
                              encoding="utf-8")
            command = [str(rasa_bin), "train", "--data", str(rasa_dir / "data"),
                       "--domain", str(rasa_dir / "domain.yml"), "--config", str(config),
                       "--out", str(work), "--fixed-model-name", name]
            (note or log.info)(f"training the Rasa model {name} ({epochs} epochs; about a minute); log: {logfile}")
            env = rasa_environment()
            # Rasa's training cache: a later training reuses the parts whose inputs did not change.
            env.update(RASA_CACHE_DIRECTORY=str(out_dir / ".rasa-cache"), RASA_MAX_CACHE_SIZE="500")
            started = time.perf_counter()
            with logfile.open("wb") as output:
                try:
                    done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=work, env=env)
                except OSError as exc:
                    raise RasaError(f"cannot run {rasa_bin} ({exc.strerror}); run `make setup`") from None
            seconds = time.perf_counter() - started
            produced = work / f"{name}.tar.gz"
            if done.returncode != 0 or not produced.exists():
                why = f"exited with {done.returncode}" if done.returncode else "wrote no model"
                raise RasaError(f"rasa train {why}; see {logfile}, which ends:\n{log_tail(logfile)}")
            os.replace(produced, model)
    return TrainResult(model, trained=True, seconds=seconds, fingerprint=fp)
