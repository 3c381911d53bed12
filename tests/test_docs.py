"""The manual builds with every link checked, and README.md stays a README: short, responsible use near the top.

The build is the one `make docs` runs (mkdocs build --strict, mkdocs.yml's validation turning every link problem
into a warning and --strict every warning into an error), written into a temporary folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
OUTSIDE = "../" + "shared"  # spelled in two parts so that this file does not name it (tests/test_project.py)
MKDOCS = Path(sys.executable).with_name("mkdocs")
INSTALL_HINT = "mkdocs is missing from this environment: `make setup` installs the project's docs extra"


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    assert MKDOCS.exists(), INSTALL_HINT
    return subprocess.run([str(MKDOCS), "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
                          cwd=config.parent, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def test_the_manual_builds_strictly(tmp_path):
    result = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    pages = sorted(p.stem for p in (ROOT / "docs").glob("*.md"))
    built = sorted(p.stem for p in (tmp_path / "site").glob("*.html") if p.stem not in ("404",))
    assert set(pages) <= set(built), f"pages not built: {sorted(set(pages) - set(built))}"


def test_a_broken_link_fails_the_build(tmp_path):
    """The check bites: the same manual with one link to a page that is not there does not build."""
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    page = copy / "docs" / "index.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nSee [nowhere](no-such-page.md).\n", encoding="utf-8")
    result = build(copy / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0, "a link to a missing page built without an error"
    assert "no-such-page.md" in result.stdout + result.stderr


def test_the_readme_is_a_readme():
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= 220, f"README.md has {len(lines)} lines; the reference belongs in docs/"
    headings = [i for i, line in enumerate(lines[:60]) if re.fullmatch(r"#{1,3} Responsible use", line.strip())]
    assert headings, "README.md needs a 'Responsible use' heading within its first 60 lines"
    assert OUTSIDE not in text, f"README.md names {OUTSIDE}, which a clone does not have; link docs/design.md"


def test_the_readme_has_the_two_commands_for_a_fresh_machine():
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"^```\n(.*?)^```$", text, flags=re.S | re.M)
    setup = [block for block in blocks if "make demo" in block]
    assert setup, "README.md has no code block with `make demo`"
    commands = [line.split("#")[0].strip() for line in setup[0].splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


def test_the_readme_links_only_what_a_clone_has():
    text = README.read_text(encoding="utf-8")
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in t]
    missing = [t for t in targets if t and not (ROOT / t).exists()]
    assert missing == [], f"README.md links to files that are not in the repository: {missing}"
