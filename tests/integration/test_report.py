"""`avem report` on saved lmms-eval results: files, plots, and a real headless-Chromium render."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avem_plugins.cli.main import app
from avem_plugins.report import ReportError, load_run, report

DATA = Path(__file__).resolve().parents[1] / "data" / "lmms_results"
RUNS = [DATA / "before_results.json", DATA / "after_results.json", DATA / "text_probe_results.json"]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return out, report(RUNS, out, labels=["before", "after", "text-only"])


def test_load_run_reads_metrics_and_modalities():
    run = load_run(RUNS[2])
    assert run.modalities == "text"
    assert run.value("emorealm", "accuracy") == pytest.approx(0.3)
    assert "accuracy_stderr" not in run.metrics["emorealm"]
    assert run.metrics["dfew"]["confusion_matrix"]["labels"][0] == "happiness"


def test_report_files_exist_and_are_referenced(written):
    out, paths = written
    page = paths["html"].read_text()
    pngs = sorted(out.glob("*.png"))
    names = {p.name for p in pngs}
    assert {"tasks.png", "text_probe.png"} <= names
    assert any(n.startswith("confusion_dfew_") for n in names)
    assert any(n.startswith("stress_emorealm_reasoning_stress_audio") for n in names)
    for png in pngs:
        assert png.stat().st_size > 1000, png
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{png.name}"' in page, f"{png.name} not referenced by report.html"
    md = paths["markdown"].read_text()
    assert "| emorealm | accuracy | 0.25 | 0.5 | 0.3 |" in md


def test_cli_report(tmp_path):
    res = CliRunner().invoke(
        app, ["report", str(RUNS[0]), str(RUNS[1]), "--out", str(tmp_path), "--labels", "a,b"]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "report.html").exists()
    bad = CliRunner().invoke(app, ["report", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert bad.exit_code == 2
    assert "no such file or folder" in bad.output


def test_labels_must_match(tmp_path):
    with pytest.raises(ReportError, match="2 names for 1 results"):
        report(RUNS[:1], tmp_path, labels=["a", "b"])


def test_page_renders_in_headless_chromium(written, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip(
            "headless Chromium is not installed (CI installs the Debian package 'chromium')"
        )
    _, paths = written
    flags = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600",
        "--virtual-time-budget=3000",
    ]  # fmt: skip
    url = paths["html"].resolve().as_uri()
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert re.search(r'data-images-loaded="true"', dom.stdout), (
        "an image failed to load in Chromium"
    )
    assert dom.stdout.count("<img") >= 4
    shot = tmp_path / "page.png"
    res = subprocess.run(
        [*flags, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.stat().st_size > 10_000
