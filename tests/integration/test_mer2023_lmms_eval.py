"""``mer2023`` through the real lmms-eval 0.7.3 CLI, with the tiny Qwen2.5-Omni.

One subprocess run (``python -m lmms_eval``) evaluates ``mer2023`` and ``mer2023_6class``
on a generated MER2023-style tree (real H.264 + AAC clips, the released label-file
layout) with no ``--include_path``, and checks the results file: weighted F1, UAR, WAR and
the rest, recomputed from the logged samples.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("lmms_eval")

from avem_plugins.scoring import metrics
from avem_plugins.testing.benchdata import write_mer2023_tree

LABELS = {
    "sample_00000011": "happy",
    "sample_00000012": "worried",
    "sample_00000013": "angry",
    "sample_00000014": "sad",
}
METRICS = {
    "weighted_f1", "uar", "war", "macro_f1", "confusion_matrix", "unparsed_count",
    "unparsed_rate", "empty_count", "dropped_count", "missing_media_count", "answer_parser", "answer_parser_note",
    "model_modalities",
}  # fmt: skip


def test_cli_runs_mer2023_and_reports_weighted_f1_uar_war(tiny_qwen2_5_omni_dir, tmp_path):
    root = write_mer2023_tree(tmp_path / "MER2023", LABELS, clips=True)
    out = tmp_path / "out"
    env = dict(os.environ)
    for var in (
        "AVEM_ALLOW_MISSING_MEDIA",
        "AVEM_ANSWER_PARSER",
        "MER2023_LABELS",
        "MER2023_AUDIO_ROOT",
    ):
        env.pop(var, None)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_DATASETS_CACHE=str(tmp_path / "hf-datasets"),
        MER2023_ROOT=str(root),
    )
    cmd = [
        sys.executable, "-m", "lmms_eval",
        "--model", "avem_av",
        "--model_args", f"pretrained={tiny_qwen2_5_omni_dir},device=cpu,video_max_pixels=4096,max_new_tokens=4",
        "--tasks", "mer2023,mer2023_6class",
        "--output_path", str(out),
        "--log_samples",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout[-4000:] + proc.stderr[-8000:]
    results_files = sorted(out.rglob("*_results.json"))
    assert proc.returncode == 0 and results_files, log  # lmms-eval exits 0 on errors
    results = json.loads(results_files[-1].read_text())["results"]

    for task, n_docs, n_labels in (("mer2023", 3, 5), ("mer2023_6class", 4, 6)):
        got = results[task]
        assert {k.split(",")[0] for k in got if "," in k and "_stderr" not in k} == METRICS
        cm = got["confusion_matrix,none"]
        assert len(cm["labels"]) == n_labels
        assert sum(map(sum, cm["matrix"])) + sum(cm["predicted_outside_labels"]) == n_docs
        assert got["answer_parser,none"] == "robust" and got["missing_media_count,none"] == 0
        assert got["model_modalities,none"] == "audio,video"
        # the aggregates agree with the per-sample records lmms-eval logged
        (samples_file,) = out.rglob(f"*_samples_{task}.jsonl")
        records = [
            json.loads(line)["weighted_f1"] for line in samples_file.read_text().splitlines()
        ]
        assert sorted(r["id"] for r in records) == sorted(
            n for n, lab in LABELS.items() if task == "mer2023_6class" or lab != "worried"
        )
        golds, preds = [r["gold"] for r in records], [r["pred"] for r in records]
        labels = records[0]["labels"]
        assert got["weighted_f1,none"] == pytest.approx(metrics.weighted_f1(golds, preds, labels))
        assert got["uar,none"] == pytest.approx(metrics.uar(golds, preds, labels))
        assert got["war,none"] == pytest.approx(metrics.war(golds, preds, labels))
