"""The report in a real browser: headless Chromium renders it offline; sections and non-empty charts are checked
on the DOM Chromium built, and a screenshot is kept at artifacts/report-screenshot.png."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from emergent.report.html import write_report

ROOT = Path(__file__).resolve().parents[2]
SHAPES = {"rect", "path", "circle", "polygon", "line"}
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("chromium not found: install Debian's `chromium` (scripts/ensure_chromium.sh does it in `make test`)")


class ChartCounter(HTMLParser):
    """Per <section id>, how many <svg> elements contain at least one drawn shape."""

    def __init__(self) -> None:
        super().__init__()
        self.section: str | None = None
        self.svg_shapes: int | None = None
        self.charts: dict[str, list[int]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.section = dict(attrs).get("id")
            self.charts.setdefault(self.section or "", [])
        elif tag == "svg":
            self.svg_shapes = 0
        elif tag in SHAPES and self.svg_shapes is not None:
            self.svg_shapes += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg" and self.svg_shapes is not None:
            self.charts.setdefault(self.section or "", []).append(self.svg_shapes)
            self.svg_shapes = None
        elif tag == "section":
            self.section = None


def run_chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120
    )


def test_report_renders_in_chromium(fake_run: Path, tmp_path: Path) -> None:
    report = write_report(fake_run)
    url = report.resolve().as_uri()
    dom = run_chromium(["--dump-dom", url], tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    counter = ChartCounter()
    counter.feed(dom.stdout)
    charts = counter.charts
    for name in ("data", "composition", "sources", "examples", "training", "evaluation", "samples"):
        assert name in charts, f"section {name} not in the rendered DOM"
    for name, minimum in (("data", 2), ("composition", 1), ("training", 3), ("evaluation", 6)):
        drawn = [n for n in charts[name] if n > 0]
        assert len(drawn) >= minimum, f"{name}: {charts[name]}"
    assert all(n > 3 for sec in ("data", "composition", "training", "evaluation") for n in charts[sec])

    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "report-screenshot.png"
    shot.unlink(missing_ok=True)
    out = run_chromium(["--window-size=1280,5000", f"--screenshot={shot}", url], tmp_path / "profile")
    assert out.returncode == 0, out.stderr[-2000:]
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
