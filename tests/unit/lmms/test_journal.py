"""The avem_av answer journal: keys cover what decides an answer; torn lines are ignored."""

from __future__ import annotations

import json
import os
from dataclasses import replace

from avem_plugins.lmms.journal import AnswerJournal, request_key
from avem_plugins.lmms.requests import AVRequest

MODEL = {
    "pretrained": "/m",
    "peft": None,
    "adapter": "qwen2_5_omni",
    "modalities": ["audio", "video"],
}


def _req(tmp_path, **kw):
    clip = tmp_path / "1.mp4"
    if not clip.exists():
        clip.write_bytes(b"x")
    base = AVRequest(index=0, doc_id=1, task="dfew", prompt="How?", gen_kwargs={"max_new_tokens": 4},
                     video=str(clip), audio=str(clip), audio_from_video=True)  # fmt: skip
    return replace(base, **kw)


def test_key_changes_with_everything_that_decides_the_answer(tmp_path):
    req = _req(tmp_path)
    key = request_key(MODEL, req)
    assert key == request_key(MODEL, _req(tmp_path))
    assert key != request_key({**MODEL, "peft": "/lora"}, req)
    assert key != request_key({**MODEL, "modalities": []}, req)
    for change in ({"doc_id": 2}, {"prompt": "Why?"}, {"task": "emorealm"},
                   {"gen_kwargs": {"max_new_tokens": 8}}, {"audio_from_video": False}):  # fmt: skip
        assert key != request_key(MODEL, _req(tmp_path, **change)), change
    clip = tmp_path / "1.mp4"
    clip.write_bytes(b"changed clip")  # a fixed clip is re-answered
    assert key != request_key(MODEL, _req(tmp_path))


def test_journal_round_trip_and_torn_line(tmp_path):
    journal = AnswerJournal(tmp_path, rank=0)
    journal.add("k1", "happiness", label="dfew/doc 0")
    journal.close()
    with open(tmp_path / "rank_0.jsonl", "a") as fh:
        fh.write('{"key": "k2", "ans')  # killed mid-write
    other = AnswerJournal(tmp_path, rank=1)  # another rank reads every rank's file
    assert other.get("k1") == "happiness"
    assert other.get("k2") is None
    assert other.torn == 1
    other.add("k3", "anger")
    other.close()
    lines = (tmp_path / "rank_1.jsonl").read_text().splitlines()
    assert json.loads(lines[-1]) == {"key": "k3", "answer": "anger", "request": ""}
    assert os.path.getsize(tmp_path / "rank_0.jsonl") > 0
