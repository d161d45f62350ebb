"""`avem study --quick` through the real CLIs; the report's numbers checked against lmms-eval's files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

STRESS = ("emorealm_reasoning_stress_audio", "emorealm_reasoning_stress_video")


def metric(results: dict, task: str, name: str) -> float:
    return float(results["results"][task][f"{name},none"])


def expected_columns(av_file: str, text_file: str) -> dict[str, float]:
    """The table's columns recomputed from the raw results and samples files (independently of
    ``avem_plugins.study_table``)."""
    av = json.loads(Path(av_file).read_text())
    text = json.loads(Path(text_file).read_text())

    def answered_yes(path: str) -> dict[tuple[str, int], bool | None]:
        out = {}
        for f in Path(path).parent.glob("*_samples_*.jsonl"):
            task = f.stem.split("_samples_")[1]
            if task not in STRESS:
                continue
            for line in f.read_text().splitlines():
                row = json.loads(line)
                out[(task, row["doc_id"])] = row["yes_rate"]["answered_yes"]  # the task's record
        return out

    a, t = answered_yes(av_file), answered_yes(text_file)
    keys = list(a)
    return {
        "basic_audio": metric(av, "emorealm_reasoning_basic_audio", "accuracy"),
        "basic_visual": metric(av, "emorealm_reasoning_basic_video", "accuracy"),
        "stress_audio_f1": metric(av, STRESS[0], "paper_f1_yes_no"),
        "stress_visual_f1": metric(av, STRESS[1], "paper_f1_yes_no"),
        "spurious": sum(metric(av, s, "spurious_acc") for s in STRESS) / 2,
        "hallucination": sum(metric(av, s, "hallucination_acc") for s in STRESS) / 2,
        "agreement_f1": metric(av, "emorealm_modality_agreement", "paper_f1_yes_no"),
        "mean": metric(av, "emorealm", "accuracy"),
        "text_mean": metric(text, "emorealm", "accuracy"),
        "text_agreement": sum(a[k] == t[k] for k in keys) / len(keys),
    }


@pytest.mark.slow
def test_study_quick_table_matches_the_lmms_eval_results(tmp_path):
    out = tmp_path / "study"
    avem = Path(sys.executable).with_name("avem")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", AVEM_WORLD_CACHE="off")
    cmd = [str(avem), "study", "--quick", "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert "preconditions on the starting model" in res.stdout
    assert re.search(r"\[study \d+/9 steps", res.stdout)  # progress per run

    table = json.loads((out / "report" / "table.json").read_text())
    assert list(table["rows"]) == ["base", "naive-dpo", "avem"]
    assert table["baseline"] == "naive-dpo"
    for row, sources in table["sources"].items():
        assert len(sources) == (1 if row == "base" else 2)
        expected = [expected_columns(s["av"], s["text"]) for s in sources]
        for column, cell in table["rows"][row].items():
            values = [e[column] for e in expected]
            assert cell["values"] == pytest.approx(values), (row, column)
            assert cell["mean"] == pytest.approx(sum(values) / len(values)), (row, column)
        for s in sources:  # the files are lmms-eval's, from avem_av, with and without media
            for modalities in ("av", "text"):
                config = json.loads(Path(s[modalities]).read_text())["config"]
                assert config["model"] == "avem_av"
                assert f"modalities={modalities}" in config["model_args"]
                assert str(out) in s[modalities]

    # the HTML table shows the same means
    page = (out / "report" / "study.html").read_text()
    for row, cells in table["rows"].items():
        html_row = re.search(rf"<tr data-row='{re.escape(row)}'>(.*?)</tr>", page).group(1)
        shown = [float(m) for m in re.findall(r'data-mean="([0-9.]+)"', html_row)]
        assert shown == pytest.approx(
            [c["mean"] for c in cells.values() if c["mean"] is not None], abs=1e-6
        )
    assert (
        'src="study_failure.png"' in page and (out / "report" / "study_failure.png").stat().st_size
    )

    # training went through `trl dpo --recipe` and left LoRA adapters
    for recipe in ("naive-dpo", "avem"):
        for seed in (0, 1):
            run = out / "runs" / recipe / f"seed_{seed}"
            argv = json.loads((run / "train.json").read_text())["argv"]
            assert Path(argv[0]).name == "trl" and argv[1:4] == ["dpo", "--recipe", recipe]
            assert argv[argv.index("--seed") + 1] == str(seed)
            assert (run / "model" / "adapter_model.safetensors").exists()

    # resumable: the same command again finds every run finished and only rebuilds the report
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert not re.search(r"\] (training|evaluating) ", again.stdout), again.stdout[-2000:]
    assert json.loads((out / "report" / "table.json").read_text())["rows"] == table["rows"]
