"""The offline tiny-model kit and the model adapters on real (tiny) models and real clips."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from avem_plugins.adapters.base import AdapterError, Example  # noqa: E402
from avem_plugins.adapters.encoding import EncoderCallCounter, token_logps  # noqa: E402
from avem_plugins.modality import parse_modalities  # noqa: E402
from avem_plugins.registry import get_adapter  # noqa: E402

FIXTURE = {"qwen2_5_omni": "tiny_qwen2_5_omni_dir", "qwen3_omni": "tiny_qwen3_omni_dir"}
THINKER = {
    "qwen2_5_omni": "Qwen2_5OmniThinkerForConditionalGeneration",
    "qwen3_omni": "Qwen3OmniMoeThinkerForConditionalGeneration",
}
MODALITIES = ("text", "audio", "video", "av")


@pytest.fixture(scope="module")
def media(avem_synth_clips):
    """Decoded Media of two generated clips (8 frames, 16 kHz audio from their own track)."""
    from avem_plugins.media import decode_clip

    return [decode_clip(str(c.path)).to_media() for c in avem_synth_clips[:2]]


@pytest.fixture(scope="module", params=sorted(FIXTURE))
def tiny(request):
    """A loaded tiny model of each family, with its auto-detected adapter."""
    from transformers import AutoConfig

    path = request.getfixturevalue(FIXTURE[request.param])
    adapter = get_adapter("auto", AutoConfig.from_pretrained(path), video_max_pixels=4096)
    loaded = adapter.load(str(path))
    return SimpleNamespace(
        family=request.param,
        path=path,
        adapter=adapter,
        model=loaded.model,
        processor=loaded.processor,
    )


def _ids(tiny, name):
    return getattr(tiny.model.config, name)


def _count(ids, token_id):
    return int((ids == token_id).sum())


# ---------------------------------------------------------------- the kit


@pytest.mark.parametrize("family", sorted(FIXTURE))
def test_kit_saves_and_loads_offline(family, request, monkeypatch):
    import transformers
    from transformers import AutoConfig, AutoProcessor

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = request.getfixturevalue(FIXTURE[family])
    config = AutoConfig.from_pretrained(path)
    assert config.model_type in get_adapter(family).model_types
    processor = AutoProcessor.from_pretrained(path)
    model = getattr(transformers, THINKER[family]).from_pretrained(path)
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    assert config.get_text_config().num_hidden_layers == 2
    assert config.get_text_config().hidden_size == 32
    tok = processor.tokenizer
    for attr in ("audio_token", "video_token", "image_token", "audio_bos_token"):
        assert len(tok.tokenize(getattr(tok, attr))) == 1
    assert processor.audio_token_id == config.audio_token_id
    assert processor.video_token_id == config.video_token_id
    for word in ("happiness", "sadness", "anger", "Yes", "No"):
        assert len(tok.tokenize(" " + word)) <= 2, word
    assert len(tok.tokenize(" (A)")) <= 3
    assert processor.feature_extractor.feature_size == 128


FULL = {
    "qwen2_5_omni": ("Qwen2_5OmniConfig", "Qwen2_5OmniForConditionalGeneration"),
    "qwen3_omni": ("Qwen3OmniMoeConfig", "Qwen3OmniMoeForConditionalGeneration"),
}


@pytest.mark.parametrize("family", sorted(FIXTURE))
def test_a_full_checkpoint_loads_its_thinker_only(family, request, tmp_path):
    """Real checkpoints (Qwen/Qwen2.5-Omni-7B) hold thinker + talker: only the thinker loads."""
    import transformers
    from transformers import AutoConfig, AutoProcessor

    path = request.getfixturevalue(FIXTURE[family])
    config_cls, full_cls = FULL[family]
    config = getattr(transformers, config_cls)(
        thinker_config=AutoConfig.from_pretrained(path).to_dict(), enable_audio_output=False
    )
    torch.manual_seed(1)
    full = getattr(transformers, full_cls)(config)
    full.save_pretrained(tmp_path)
    AutoProcessor.from_pretrained(path).save_pretrained(tmp_path)
    adapter = get_adapter("auto", AutoConfig.from_pretrained(tmp_path))
    assert adapter.name == family
    model = adapter.load(str(tmp_path)).model
    assert type(model).__name__ == THINKER[family]
    want, got = full.thinker.state_dict(), model.state_dict()
    assert sorted(want) == sorted(got)
    assert all(torch.equal(want[k], got[k]) for k in want)


def test_same_seed_same_weights(tmp_path):
    from safetensors.torch import load_file

    from avem_plugins.testing.tiny import build_tiny_model

    a = load_file(build_tiny_model(tmp_path / "a", "qwen3_omni", seed=3) / "model.safetensors")
    b = load_file(build_tiny_model(tmp_path / "b", "qwen3_omni", seed=3) / "model.safetensors")
    c = load_file(build_tiny_model(tmp_path / "c", "qwen3_omni", seed=4) / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_cli_builds_a_loadable_model(tmp_path):
    from transformers import AutoConfig
    from typer.testing import CliRunner

    from avem_plugins.cli.main import app

    out = tmp_path / "m"
    result = CliRunner().invoke(app, ["tiny-model", str(out), "--family", "qwen2_5_omni"])
    assert result.exit_code == 0, result.output
    assert AutoConfig.from_pretrained(out).model_type == "qwen2_5_omni_thinker"
    bad = CliRunner().invoke(app, ["tiny-model", str(tmp_path / "x"), "--family", "llama"])
    assert bad.exit_code != 0
    assert "qwen3_omni" in bad.output


# ---------------------------------------------------------------- inputs per modality


@pytest.mark.parametrize("mods", MODALITIES)
def test_modalities_produce_the_right_inputs(tiny, media, mods):
    examples = [Example("<video>\n<audio>\nHow does she feel?", media[0], "happiness", id="x")]
    rows = tiny.adapter.training_rows(tiny.processor, examples, modalities=parse_modalities(mods))
    ids = rows["input_ids"][0]
    n_audio = _count(ids, _ids(tiny, "audio_token_id"))
    n_video = _count(ids, _ids(tiny, "video_token_id"))
    want_audio, want_video = mods in ("audio", "av"), mods in ("video", "av")
    assert (n_audio > 0) == want_audio
    assert (n_video > 0) == want_video
    assert ("input_features" in rows) == want_audio
    assert ("pixel_values_videos" in rows) == want_video
    assert rows.get("use_audio_in_video", False) == (mods == "av")
    text = tiny.processor.tokenizer.decode(ids, skip_special_tokens=True)
    assert "<video>" not in text and "<audio>" not in text and "How does she feel?" in text
    if mods == "av":  # the clip's own track goes inside the video's vision span
        positions = torch.arange(len(ids))
        start = positions[ids == _ids(tiny, "vision_start_token_id")]
        end = positions[ids == _ids(tiny, "vision_end_token_id")]
        audio = positions[ids == _ids(tiny, "audio_token_id")]
        assert len(start) == len(end) == 1
        assert bool(((audio > start) & (audio < end)).all())


def _language_model_input(tiny, rows):
    """The ``inputs_embeds`` the thinker's language model receives in a plain forward."""
    captured = {}
    lm = tiny.model.model.language_model

    def grab(module, args, kwargs):
        captured["embeds"] = kwargs["inputs_embeds"].detach().clone()

    handle = lm.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            tiny.model(**tiny.adapter.model_inputs(rows))
    finally:
        handle.remove()
    return captured["embeds"]


@pytest.mark.parametrize("swapped", ["audio", "video"])
def test_media_features_change_the_model_input(tiny, media, swapped):
    from dataclasses import replace

    base = media[0]
    other = (
        replace(base, audio=media[1].audio[: len(base.audio)])
        if swapped == "audio"
        else replace(base, frames=media[1].frames)
    )
    if swapped == "audio":  # same length so the layouts are identical
        assert len(other.audio) == len(base.audio)
    for mods, should_change in (("av", True), (swapped, True), (_other(swapped), False)):
        rows = [
            tiny.adapter.training_rows(
                tiny.processor, [Example("Feel?", m, "calm")], modalities=parse_modalities(mods)
            )
            for m in (base, other)
        ]
        assert torch.equal(rows[0]["input_ids"], rows[1]["input_ids"])
        a, b = (_language_model_input(tiny, r) for r in rows)
        ids = rows[0]["input_ids"]
        token = _ids(tiny, "audio_token_id" if swapped == "audio" else "video_token_id")
        at_media = ids == token
        text = (ids != _ids(tiny, "audio_token_id")) & (ids != _ids(tiny, "video_token_id"))
        if should_change:
            assert not torch.allclose(a[at_media], b[at_media]), (mods, swapped)
        else:
            assert torch.equal(a, b), (mods, swapped)
        assert torch.equal(a[text], b[text])


def _other(modality: str) -> str:
    return "video" if modality == "audio" else "audio"


# ---------------------------------------------------------------- encode once


@pytest.mark.parametrize(
    ("mods", "own_track"),
    [(m, True) for m in MODALITIES] + [("av", False)],  # the track only matters for av
)
def test_encode_once_forward_equals_the_plain_forward(tiny, media, mods, own_track):
    from dataclasses import replace

    clips = [m if own_track else replace(m, audio_in_video=False) for m in media]
    examples = [
        Example("How does she feel?", clips[0], "happiness", id="a"),
        Example("<video>\nAnd now?", clips[0], "sad, very sad", id="b"),
        Example("Describe it.", clips[1], "anger", id="c"),
    ]
    rows = tiny.adapter.training_rows(tiny.processor, examples, modalities=parse_modalities(mods))
    with torch.no_grad():
        plain = token_logps(tiny.model(**tiny.adapter.model_inputs(rows)).logits, rows["input_ids"])
        with EncoderCallCounter(tiny.model, tiny.adapter.encoder_modules(tiny.model)) as counter:
            features = tiny.adapter.encode_media(tiny.model, rows)
            encoded = dict(counter.items)
            every = tiny.adapter.forward_logps(tiny.model, rows, features, positions="all")
            response = tiny.adapter.forward_logps(tiny.model, rows, features)
    scored = rows["attention_mask"].bool()
    scored[:, 0] = False
    assert torch.allclose(every[scored], plain[scored], atol=1e-5, rtol=1e-4)
    completion = rows["completion_mask"].bool()
    assert torch.allclose(response[completion], plain[completion], atol=1e-5, rtol=1e-4)
    assert torch.equal(response[~completion], torch.zeros_like(response[~completion]))
    # Two unique clips among three rows: each tower ran once, on two items, and the
    # forwards that reused the features ran no tower at all.
    expect = {
        "audio": 2 if mods in ("audio", "av") else 0,
        "video": 2 if mods in ("video", "av") else 0,
    }
    assert encoded == expect
    assert counter.items == expect
    assert counter.calls == {k: int(v > 0) for k, v in expect.items()}


def test_features_are_reused_across_batches_by_content(tiny, media):
    av = parse_modalities("av")
    chosen = tiny.adapter.training_rows(
        tiny.processor, [Example("q", media[0], "happy")], modalities=av
    )
    rejected = tiny.adapter.training_rows(
        tiny.processor,
        [Example("q", media[0], "sad"), Example("q", media[1], "sad")],
        modalities=av,
    )
    with torch.no_grad(), EncoderCallCounter(tiny.model) as counter:
        features = tiny.adapter.encode_media(tiny.model, chosen)
        tiny.adapter.encode_media(tiny.model, rejected, features)  # adds only clip 1
        tiny.adapter.forward_logps(tiny.model, chosen, features)
        tiny.adapter.forward_logps(tiny.model, rejected, features)
    assert counter.items == {"audio": 2, "video": 2}
    assert len(features.video) == len(features.audio) == 2


# ---------------------------------------------------------------- rows and batches


def test_completion_mask_marks_exactly_the_response(tiny, media):
    av = parse_modalities("av")
    examples = [
        Example("How?", media[0], "happiness", id="a"),
        Example("Why?", media[1], "no", id="b"),
    ]
    rows = tiny.adapter.training_rows(tiny.processor, examples, modalities=av)
    prompts = tiny.adapter.generation_inputs(tiny.processor, examples, modalities=av)
    tok = tiny.processor.tokenizer
    suffix = tiny.adapter.response_suffix(tiny.processor)
    assert suffix == "<|im_end|>"
    for i, ex in enumerate(examples):
        ids, comp, att = rows["input_ids"][i], rows["completion_mask"][i], rows["attention_mask"][i]
        assert tok.decode(ids[comp.bool()]) == ex.response + suffix
        n = int(att.sum())
        assert bool(att[:n].all()) and not bool(att[n:].any())  # right padding
        prompt = prompts["input_ids"][i][prompts["attention_mask"][i].bool()]
        assert torch.equal(ids[: len(prompt)], prompt)  # the exact tokens generation sees
        assert int(comp.sum()) == n - len(prompt)


def test_max_length_truncates_text_never_media(tiny, media):
    av = parse_modalities("av")
    long = Example("How?", media[0], "happiness " * 20, id="long")
    full = tiny.adapter.training_rows(tiny.processor, [long], modalities=av)
    n_prompt = int((full["completion_mask"][0] == 0).sum())
    cut = tiny.adapter.training_rows(tiny.processor, [long], modalities=av, max_length=n_prompt + 3)
    assert cut["input_ids"].shape[1] == n_prompt + 3
    assert int(cut["completion_mask"].sum()) == 3
    token = _ids(tiny, "video_token_id")
    assert _count(cut["input_ids"], token) == _count(full["input_ids"], token)
    with pytest.raises(AdapterError, match=r"'long'.*max_length=10"):
        tiny.adapter.training_rows(tiny.processor, [long], modalities=av, max_length=10)


def test_a_batch_cannot_mix_interleaved_and_plain_videos(tiny, media):
    from dataclasses import replace

    examples = [Example("q", media[0]), Example("q", replace(media[1], audio_in_video=False))]
    with pytest.raises(AdapterError, match="batch_key"):
        tiny.adapter.generation_inputs(tiny.processor, examples, modalities=parse_modalities("av"))


def test_batched_generation_inputs_match_single_ones(tiny, media):
    av = parse_modalities("av")
    examples = [Example("How does she feel?", media[0]), Example("Feel?", media[1])]
    batch = tiny.adapter.generation_inputs(tiny.processor, examples, modalities=av)
    assert bool(batch["attention_mask"][:, -1].all())  # left padding
    with torch.no_grad():
        out = tiny.model.generate(**batch, max_new_tokens=3, do_sample=False)
        batched = tiny.model(**batch).logits[:, -1]
        for i, ex in enumerate(examples):
            single = tiny.adapter.generation_inputs(tiny.processor, [ex], modalities=av)
            assert torch.allclose(tiny.model(**single).logits[0, -1], batched[i], atol=1e-4)
    texts = tiny.adapter.decode(tiny.processor, out[:, batch["input_ids"].shape[1] :])
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


# ---------------------------------------------------------------- hf_generic


@pytest.fixture(scope="module")
def generic_models(tmp_path_factory):
    from tiny_generic import build_tiny_audio_only, build_tiny_video_only

    root = tmp_path_factory.mktemp("generic")
    return {
        "video": build_tiny_video_only(root / "qwen2_5_vl"),
        "audio": build_tiny_audio_only(root / "qwen2_audio"),
    }


@pytest.mark.parametrize("kind", ["video", "audio"])
def test_generic_adapter_uses_what_the_model_takes_and_warns_once(
    generic_models, media, kind, caplog
):
    from transformers import AutoConfig

    path = generic_models[kind]
    adapter = get_adapter("auto", AutoConfig.from_pretrained(path), video_max_pixels=4096)
    assert adapter.name == "hf_generic"
    loaded = adapter.load(str(path))
    av = parse_modalities("av")
    assert adapter.effective_modalities(av) == frozenset({kind})
    examples = [Example("How?", media[0], "happy"), Example("Feel?", media[1], "sad")]
    with caplog.at_level(logging.WARNING, logger="avem_plugins"):
        inputs = adapter.generation_inputs(loaded.processor, examples, modalities=av)
        rows = adapter.training_rows(loaded.processor, examples, modalities=av)
    warnings = [r for r in caplog.records if "cannot take" in r.getMessage()]
    assert len(warnings) == 1 and _other(kind) in warnings[0].getMessage()
    assert ("pixel_values_videos" in inputs) == (kind == "video")
    assert ("input_features" in inputs) == (kind == "audio")
    with torch.no_grad():
        generated = loaded.model.generate(**inputs, max_new_tokens=2, do_sample=False)
        logps = adapter.forward_logps(loaded.model, rows)
    assert generated.shape[0] == 2
    assert torch.isfinite(logps).all() and bool(
        (logps * rows["completion_mask"]).sum(-1).lt(0).all()
    )


def test_generic_adapter_refuses_a_processor_without_media(tmp_path):
    from avem_plugins.testing.tiny import build_tokenizer

    adapter = get_adapter("hf_generic")
    with pytest.raises(AdapterError, match="neither a video processor nor an audio"):
        adapter.configure(build_tokenizer())


def test_rows_sharing_a_sample_run_the_processor_once(tiny, media):
    """Chosen/rejected/rejected_2 rows share prompt and Media: one processor call, same rows."""
    av = parse_modalities("av")
    shared = [Example("How?", media[0], r, id="s") for r in ("happy", "sad", "angry")]
    other = Example("How?", media[1], "calm", id="o")  # same prompt, other clip: its own call
    calls = []
    real = tiny.processor.__class__.__call__

    def counting(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    cls = tiny.processor.__class__
    cls.__call__ = counting
    try:
        rows = tiny.adapter.training_rows(tiny.processor, [*shared, other], modalities=av)
    finally:
        cls.__call__ = real
    assert len(calls) == 2
    singles = [
        tiny.adapter.training_rows(tiny.processor, [ex], modalities=av) for ex in [*shared, other]
    ]
    for key in ("pixel_values_videos", "input_features"):
        assert torch.equal(rows[key], torch.cat([s[key] for s in singles], dim=0)), key
    for i, single in enumerate(singles):
        n = int(single["attention_mask"].sum())
        assert torch.equal(rows["input_ids"][i][:n], single["input_ids"][0][:n])
