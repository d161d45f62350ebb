"""The starting model of a cue world: warm-up through the adapter, the world cache."""

from __future__ import annotations

import json

import numpy as np

from avem_plugins.study_world import WarmupConfig, _Memo, prepare_world
from avem_plugins.testing import demo_data


class Counting:
    def __init__(self):
        self.calls = 0

    def __call__(self, arrays, **kwargs):
        self.calls += 1
        return {"n": len(arrays), "kw": kwargs}


def test_memo_keys_by_content_and_copies_outputs():
    inner = Counting()
    memo = _Memo(inner)
    a = np.arange(6, dtype=np.float32)
    first = memo([a], sampling_rate=16000)
    first["n"] = 99  # the processor edits what it gets back: the cache must not change
    assert memo([a.copy()], sampling_rate=16000) == {"n": 1, "kw": {"sampling_rate": 16000}}
    assert inner.calls == 1
    memo([a], sampling_rate=8000)  # other arguments: another entry
    memo([a + 1], sampling_rate=16000)  # other content: another entry
    memo([a, a], sampling_rate=16000)  # several arrays: never cached
    memo([a, a], sampling_rate=16000)
    assert inner.calls == 5


def test_prepare_world_warms_up_and_reuses_the_cache(tmp_path):
    spec = demo_data.get_world("A").scaled(eval_clips=3, pref_clips=2, pretrain_clips=2)
    warm = WarmupConfig(steps=2, batch_size=4)
    said: list[str] = []
    cache = tmp_path / "cache"
    first = prepare_world(spec, tmp_path / "one", warmup_config=warm, echo=said.append, cache=cache)
    assert (first.model / "config.json").exists() and (first.model / "model.safetensors").exists()
    items = json.loads(first.files.questions.read_text())
    assert len(items) == 15 and all((first.files.bench_root / i["video"]).exists() for i in items)
    assert any("warm-up step 2/2" in line for line in said)
    # the same folder again: nothing is rebuilt
    said.clear()
    prepare_world(spec, tmp_path / "one", warmup_config=warm, echo=said.append, cache=cache)
    assert said == []
    # another folder: copied from the cache, the same starting model
    second = prepare_world(
        spec, tmp_path / "two", warmup_config=warm, echo=said.append, cache=cache
    )
    assert any("reusing" in line for line in said)
    a = (first.model / "model.safetensors").read_bytes()
    assert (second.model / "model.safetensors").read_bytes() == a
    # another warm-up is another world
    said.clear()
    prepare_world(spec, tmp_path / "three", warmup_config=WarmupConfig(steps=1, batch_size=4),
                  echo=said.append, cache=cache)  # fmt: skip
    assert not any("reusing" in line for line in said)
