"""``avem_av`` decoding the next batches in the background (``media_prefetch``).

The same requests answered with media decoded ahead in a background thread
(``media_prefetch=2``, the default) and decoded when their batch is reached
(``media_prefetch=0``) give the same answers in the same order, and the same error reports:
a clip that is missing, corrupt or lacks its audio track is counted against its own
document, with the same message naming the document and the file, whichever thread
decoded it. ``fail_fast`` raises the same exception.
"""

from __future__ import annotations

import logging
import threading

import pytest

pytest.importorskip("lmms_eval")


@pytest.fixture(scope="module")
def docs(avem_synth_clips, tmp_path_factory):
    from avem_plugins.testing.synth import write_clip

    root = tmp_path_factory.mktemp("prefetch")
    garbage = root / "garbage.mp4"
    garbage.write_text("not a video\n")
    silent = write_clip(
        root / "silent.mp4", visual_cue="red_circle", audio_cue="silence", audio=False
    )
    clips = [str(c.path) for c in avem_synth_clips]
    videos = [
        clips[0],
        str(root / "missing.mp4"),
        clips[1],
        str(garbage),
        clips[2],
        str(silent),
        clips[0],
    ]
    return [{"video": v, "question": f"Clip {i}: which emotion?"} for i, v in enumerate(videos)]


def _requests(docs):
    from avem_av_task_utils import doc_to_messages
    from lmms_eval.api.instance import Instance

    return [
        Instance(
            request_type="generate_until",
            arguments=("ctx", doc_to_messages, {"max_new_tokens": 3}, i, "t", "test"),
            idx=0,
            metadata={"task": "t", "doc_id": i, "repeats": 1},
        )
        for i in range(len(docs))
    ]


def _run(model_dir, docs, monkeypatch, caplog, **args):
    from avem_plugins.lmms.model import AvemAV

    lm = AvemAV(pretrained=str(model_dir), video_max_pixels=4096, batch_size=2, **args)
    lm.task_dict = {"t": {"test": docs}}
    threads: set[str] = set()
    real = AvemAV._media

    def media(self, req):
        threads.add(threading.current_thread().name)
        return real(self, req)

    monkeypatch.setattr(AvemAV, "_media", media)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="avem_plugins"):
        answers = lm.generate_until(_requests(docs))
    monkeypatch.setattr(AvemAV, "_media", real)
    messages = [r.getMessage() for r in caplog.records]
    return lm, answers, messages, threads


def test_background_decode_reports_errors_exactly_as_before(
    tiny_qwen2_5_omni_dir, docs, monkeypatch, caplog
):
    from avem_plugins.lmms.model import GENERATION_ERROR

    main = threading.current_thread().name
    before, answers0, log0, threads0 = _run(
        tiny_qwen2_5_omni_dir, docs, monkeypatch, caplog, media_prefetch=0
    )
    after, answers2, log2, threads2 = _run(
        tiny_qwen2_5_omni_dir, docs, monkeypatch, caplog, media_prefetch=2
    )
    assert threads0 == {main} and main not in threads2 and threads2  # really in the background
    assert answers2 == answers0
    assert [i for i, a in enumerate(answers2) if a == GENERATION_ERROR] == [1, 3, 5]
    assert after.errors == before.errors and after.error_count == 3
    for error, (doc, kind) in zip(
        after.errors,
        [(1, "MediaNotFoundError"), (3, "CorruptMediaError"), (5, "NoAudioStreamError")],
        strict=True,
    ):
        assert error["task"] == "t" and error["doc_id"] == doc
        assert error["error"].startswith(f"{kind}: ") and docs[doc]["video"] in error["error"]
    assert log2 == log0  # the same lines: "t/doc N failed: <Type>: <file>: <reason>"
    for doc in (1, 3, 5):
        assert any(f"t/doc {doc} failed" in m and docs[doc]["video"] in m for m in log2)
    stats = after.media_stats
    assert stats.requests == len(docs) and stats.batches == 4 and stats.decode_s > 0


@pytest.mark.parametrize("prefetch", [0, 2])
def test_fail_fast_raises_the_decoding_error(tiny_qwen2_5_omni_dir, docs, prefetch):
    from avem_plugins.lmms.model import AvemAV
    from avem_plugins.media import MediaNotFoundError

    lm = AvemAV(
        pretrained=str(tiny_qwen2_5_omni_dir), video_max_pixels=4096, batch_size=2,
        fail_fast=True, media_prefetch=prefetch,
    )  # fmt: skip
    lm.task_dict = {"t": {"test": docs}}
    with pytest.raises(MediaNotFoundError) as info:
        lm.generate_until(_requests(docs))
    assert info.value.path == docs[1]["video"]


def test_media_prefetch_must_not_be_negative(tiny_qwen2_5_omni_dir):
    from avem_plugins.lmms.model import AvemAV

    with pytest.raises(ValueError, match="media_prefetch"):
        AvemAV(pretrained=str(tiny_qwen2_5_omni_dir), media_prefetch=-1)
