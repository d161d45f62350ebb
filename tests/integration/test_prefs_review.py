"""`avem prefs sample`: stratified review sets, and the HTML page rendered in headless Chromium."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avem_plugins.cli.main import app
from avem_plugins.prefs.review import (
    CSV_COLUMNS,
    VERDICT_COLUMNS,
    media_url,
    render_html,
    sample_for_review,
    stratified_sample,
    stratum,
)
from avem_plugins.prefs.schema import load_preferences

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MODALITIES = ("audio", "visual", "audiovisual")
NASTY = '<script>alert("x")</script> & "quotes"'


@pytest.fixture(scope="module")
def prefs_file(avem_synth_clips, tmp_path_factory) -> tuple[Path, Path]:
    """30 rows over the synthetic clips: 4 emotions x 3 modalities x 2 negative kinds, unevenly
    (the last 6 rows are all of the first clip, so its strata are larger)."""
    media = avem_synth_clips[0].path.parent
    rows = []
    for i in range(30):
        clip = avem_synth_clips[i % len(avem_synth_clips) if i < 24 else 0]
        row = {
            "id": f"row{i:02d}",
            "prompt": f"Q{i}: what emotion does this show?",
            "chosen": f"C{i}: {clip.emotion}, {clip.visual_caption}.",
            "rejected": f"H{i}: {clip.emotion}, she is crying.",
            "video": clip.path.name,
            "modality": MODALITIES[(i // 4) % 3],
            "emotion": clip.emotion,
        }
        if i % 6:  # every sixth row has one negative only
            row["rejected_2"] = f"S{i}: {clip.emotion}, the background is dark."
        if i == 5:
            row["chosen"] = NASTY
        rows.append(row)
    path = tmp_path_factory.mktemp("review") / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, media


def test_stratified_sample_covers_every_stratum_first(prefs_file):
    path, media = prefs_file
    samples = load_preferences(path, media)
    strata = Counter(stratum(s) for s in samples)
    assert len(strata) > 8 and len(set(strata.values())) > 1  # uneven strata
    picked = stratified_sample(samples, len(strata), seed=1)
    assert Counter(stratum(s) for s in picked) == Counter(dict.fromkeys(strata, 1))
    more = stratified_sample(samples, len(strata) + 3, seed=1)
    assert len({s.id for s in more}) == len(strata) + 3
    assert stratified_sample(samples, 5, seed=1) == stratified_sample(samples, 5, seed=1)
    assert stratified_sample(samples, 5, seed=1) != stratified_sample(samples, 5, seed=2)
    assert len(stratified_sample(samples, 1000)) == len(samples)


def test_html_escapes_text_and_links_media_relatively(prefs_file, tmp_path):
    path, media = prefs_file
    samples = [s for s in load_preferences(path, media) if s.id == "row05"]
    page = render_html(samples, tmp_path / "review")
    assert NASTY not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;" in page
    rel = media_url(samples[0].video, tmp_path / "review")
    assert not rel.startswith(("/", "file:")) and rel.endswith(Path(samples[0].video).name)
    assert (tmp_path / "review" / rel).resolve() == Path(samples[0].video)
    assert media_url(samples[0].video, tmp_path, "file") == Path(samples[0].video).as_uri()
    assert f'src="{rel}"' in page


def test_cli_sample_writes_csv_and_html(prefs_file, tmp_path):
    path, media = prefs_file
    out = tmp_path / "review"
    res = CliRunner().invoke(app, ["prefs", "sample", str(path), "-n", "7", "--out", str(out),
                                   "--media-root", str(media), "--seed", "3"])  # fmt: skip
    assert res.exit_code == 0, res.output
    with open(out / "review.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 7 and tuple(table[0]) == CSV_COLUMNS
    assert all(r[v] == "" for r in table for v in VERDICT_COLUMNS)
    assert len({(r["emotion"], r["modality"], r["negatives"]) for r in table}) == 7
    res = CliRunner().invoke(app, ["prefs", "sample", str(path), "-n", "2", "--out", str(out)])
    assert res.exit_code == 1 and "avem prefs validate" in res.output  # media root needed


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (CI installs it: apt-get install chromium)"
)
def test_review_page_renders_in_headless_chromium(prefs_file, tmp_path):
    path, media = prefs_file
    out = tmp_path / "review"
    picked, _, html_path = sample_for_review(path, 6, out, media, seed=0)
    base = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900",
    ]  # fmt: skip
    png = tmp_path / "review.png"
    shot = subprocess.run(
        [*base, f"--screenshot={png}", html_path.as_uri()], capture_output=True, timeout=120
    )
    assert png.is_file(), shot.stderr.decode(errors="replace")[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    dom = subprocess.run(
        [*base, "--dump-dom", html_path.as_uri()], capture_output=True, timeout=120
    )
    text = dom.stdout.decode()
    assert dom.returncode == 0 and "<table" in text, dom.stderr.decode(errors="replace")[-2000:]
    assert text.count("<video") == 6
    for s in picked:
        src = media_url(s.video, out)
        assert f'src="{src}"' in text
        assert (out / src).resolve() == Path(s.video)  # the element points at the real clip
        for body in (s.chosen, s.rejected, s.rejected_2 or "(none)"):
            assert _escaped(body) in text
    assert text.count('data-verdict="chosen_grounded"') == 6


def _escaped(text: str) -> str:
    # how Chromium serialises text nodes: & < > escaped, quotes not
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
