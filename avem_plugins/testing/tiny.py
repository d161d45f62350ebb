"""An offline tiny-model kit: random-weight Qwen-Omni thinkers with a locally built processor.

``build_tiny_model(out_dir, family=...)`` writes a ~0.5M-parameter audiovisual model and its
processor with ``save_pretrained``, so every code path that takes ``pretrained=PATH`` (the
``avem_av`` lmms-eval model, the trainer, the adapters) runs in tests and demos with no hub
access. Nothing is downloaded: the tokenizer is a byte-level BPE trained here, on a few
sentences, with the family's special tokens; the feature extractor, image and video
processors are default constructors.

The weights are random, so generations are gibberish; what the kit proves is that media
reach the model the way the real family expects them (placeholder tokens, features,
rope positions), on CPU, in a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The tiny Qwen2.5 vision tower (2 layers, hidden 32), shared by the Qwen2.5-Omni kit and
#: the tests' tiny Qwen2.5-VL model.
QWEN2_5_VISION: dict[str, Any] = {
    "depth": 2,
    "hidden_size": 32,
    "intermediate_size": 32,
    "num_heads": 4,
    "out_hidden_size": 32,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [1],
}

#: Families the kit can build (``--family``).
FAMILIES: tuple[str, ...] = ("qwen2_5_omni", "qwen3_omni")


@dataclass(frozen=True)
class _Tokens:
    """Special-token strings of one family (the processor reads them by attribute)."""

    image: str
    video: str
    audio: str
    vision_bos: str
    vision_eos: str
    audio_bos: str
    audio_eos: str


_FAMILY_TOKENS: dict[str, _Tokens] = {
    # Qwen2.5-Omni's own spellings.
    "qwen2_5_omni": _Tokens(
        image="<|IMAGE|>",
        video="<|VIDEO|>",
        audio="<|AUDIO|>",
        vision_bos="<|vision_bos|>",
        vision_eos="<|vision_eos|>",
        audio_bos="<|audio_bos|>",
        audio_eos="<|audio_eos|>",
    ),
    # Qwen3-Omni's spellings.
    "qwen3_omni": _Tokens(
        image="<|image_pad|>",
        video="<|video_pad|>",
        audio="<|audio_pad|>",
        vision_bos="<|vision_start|>",
        vision_eos="<|vision_end|>",
        audio_bos="<|audio_start|>",
        audio_eos="<|audio_end|>",
    ),
}

_ENDOFTEXT, _IM_START, _IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"

#: A small chat template in Qwen's format: media content items become the family's
#: placeholder tokens, which the processor then expands to the right counts.
_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'video' or 'video' in item -%}{{- '@VISION_BOS@@VIDEO@@VISION_EOS@' -}}"
    "{%- elif item['type'] == 'audio' or 'audio' in item -%}{{- '@AUDIO_BOS@@AUDIO@@AUDIO_EOS@' -}}"
    "{%- elif item['type'] == 'image' or 'image' in item -%}{{- '@VISION_BOS@@IMAGE@@VISION_EOS@' -}}"
    "{%- elif item['type'] == 'text' -%}{{- item['text'] -}}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

#: Training text for the BPE: enough emotion words, answer formats and prompt phrases that
#: they tokenize into few pieces.
_CORPUS: tuple[str, ...] = (
    "You are a helpful assistant.",
    "Describe the emotion of the person in the video in one word.",
    "Describe the emotion of the person in the video in detail.",
    "Does the tone of voice contribute to the sadness of the speaker? (A) Yes (B) No",
    "Do the audio and the video agree on the emotion? (A) Yes (B) No",
    "What is the emotion of the speaker? (A) happiness (B) sadness (C) anger (D) fear",
    "Answer with the option's letter from the given choices directly.",
    "Yes. No. Yes, the voice is loud. No, the face is calm.",
    "happiness sadness neutral anger surprise disgust fear calm",
    "happy sad angry fearful disgusted surprised neutral calm contempt",
    "The person smiles, raises the eyebrows and speaks with a high pitch: happiness.",
    "The speaker frowns, the voice is low and slow: sadness.",
    "She shouts with a tense face and clenched jaw: anger.",
    "He trembles and his eyes widen; the voice shakes: fear.",
    "A sudden gasp and raised eyebrows show surprise.",
    "The nose wrinkles and the lip curls in disgust.",
    "A neutral face and a flat, even voice.",
    "The audio has a rising tone and laughter; the video shows a smile.",
    "(A) (B) (C) (D) A B C D",
)


def build_tokenizer(family: str = "qwen2_5_omni", *, vocab_size: int = 600) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` carrying the family's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    toks = _family_tokens(family)
    media = [
        toks.audio,
        toks.audio_bos,
        toks.audio_eos,
        toks.vision_bos,
        toks.vision_eos,
        toks.image,
        toks.video,
    ]
    specials = [_ENDOFTEXT, _IM_START, _IM_END, *media]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(list(_CORPUS) * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token=_IM_END,
        pad_token=_ENDOFTEXT,
        padding_side="left",
        chat_template=_chat_template(family),
        extra_special_tokens={
            "image_token": toks.image,
            "video_token": toks.video,
            "audio_token": toks.audio,
            "vision_bos_token": toks.vision_bos,
            "vision_eos_token": toks.vision_eos,
            "audio_bos_token": toks.audio_bos,
            "audio_eos_token": toks.audio_eos,
        },
    )


def build_processor(family: str = "qwen2_5_omni") -> Any:
    """The family's processor: local tokenizer + default audio/image/video processors."""
    from transformers import (
        Qwen2_5OmniProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
        Qwen3OmniMoeProcessor,
        WhisperFeatureExtractor,
    )

    tokenizer = build_tokenizer(family)
    patch = 14 if family == "qwen2_5_omni" else 16
    cls = Qwen2_5OmniProcessor if family == "qwen2_5_omni" else Qwen3OmniMoeProcessor
    return cls(
        image_processor=Qwen2VLImageProcessor(patch_size=patch),
        video_processor=Qwen2VLVideoProcessor(patch_size=patch),
        feature_extractor=WhisperFeatureExtractor(feature_size=128),
        tokenizer=tokenizer,
        chat_template=_chat_template(family),
    )


def build_config(family: str, tokenizer: Any) -> Any:
    """A tiny thinker config (2 text layers, hidden 32, 2-layer towers) for ``family``."""
    toks = _family_tokens(family)
    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in vars(toks).items()}
    common: dict[str, Any] = {
        "audio_token_id": ids["audio"],
        "image_token_id": ids["image"],
        "video_token_id": ids["video"],
        "audio_start_token_id": ids["audio_bos"],
        "audio_end_token_id": ids["audio_eos"],
        "vision_start_token_id": ids["vision_bos"],
        "vision_end_token_id": ids["vision_eos"],
        "user_token_id": tokenizer.convert_tokens_to_ids("user")
        if "user" in tokenizer.get_vocab()
        else 0,
        "seconds_per_chunk": 2,
        "initializer_range": 0.02,
    }
    # Round the vocabulary up so the embedding has spare rows (like the real checkpoints).
    vocab = (len(tokenizer) + 63) // 64 * 64
    text: dict[str, Any] = {
        "vocab_size": vocab,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "tie_word_embeddings": False,
    }
    if family == "qwen2_5_omni":
        from transformers import Qwen2_5OmniThinkerConfig

        text["rope_parameters"] = {
            "rope_type": "default",
            "rope_theta": 1_000_000.0,
            "mrope_section": [1, 1, 2],  # sums to head_dim / 2 = 4
        }
        return Qwen2_5OmniThinkerConfig(
            text_config=text,
            vision_config=dict(QWEN2_5_VISION),
            audio_config={
                "d_model": 32,
                "encoder_layers": 2,
                "encoder_attention_heads": 4,
                "encoder_ffn_dim": 32,
                "num_mel_bins": 128,
                "max_source_positions": 1500,
                "n_window": 100,
                "output_dim": 32,
            },
            position_id_per_seconds=25,
            **common,
        )
    from transformers import Qwen3OmniMoeThinkerConfig

    text.update(
        {
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1_000_000.0,
                "mrope_section": [1, 1, 2],
                "interleaved": True,
            },
            "moe_intermediate_size": 32,
            "num_experts": 4,
            "num_experts_per_tok": 2,
            "decoder_sparse_step": 1,
        }
    )
    return Qwen3OmniMoeThinkerConfig(
        text_config=text,
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 32,
            "num_heads": 4,
            "out_hidden_size": 32,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [1],
        },
        audio_config={
            "d_model": 32,
            "encoder_layers": 2,
            "encoder_attention_heads": 4,
            "encoder_ffn_dim": 32,
            "num_mel_bins": 128,
            "max_source_positions": 1500,
            "downsample_hidden_size": 32,
            "n_window": 50,
            "n_window_infer": 100,
            "output_dim": 32,
        },
        position_id_per_seconds=13,
        **common,
    )


def build_tiny_model(out_dir: str | Path, family: str = "qwen2_5_omni", seed: int = 0) -> Path:
    """Build a tiny random-weight thinker of ``family`` and its processor into ``out_dir``.

    The result loads with ``AutoConfig``/``AutoProcessor``/the thinker class's
    ``from_pretrained(out_dir)`` under ``HF_HUB_OFFLINE=1``. Same ``seed``, same weights.
    Returns ``out_dir`` as a :class:`~pathlib.Path`.
    """
    import torch
    from transformers import GenerationConfig

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    processor = build_processor(family)
    tokenizer = processor.tokenizer
    config = build_config(family, tokenizer)
    model_cls = _model_class(family)
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model = model_cls(config)
    model.eval()
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.convert_tokens_to_ids(_IM_END), tokenizer.pad_token_id],
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def _model_class(family: str) -> Any:
    if family == "qwen2_5_omni":
        from transformers import Qwen2_5OmniThinkerForConditionalGeneration

        return Qwen2_5OmniThinkerForConditionalGeneration
    from transformers import Qwen3OmniMoeThinkerForConditionalGeneration

    return Qwen3OmniMoeThinkerForConditionalGeneration


def _family_tokens(family: str) -> _Tokens:
    if family not in _FAMILY_TOKENS:
        raise ValueError(f"unknown tiny-model family {family!r}; choose one of {list(FAMILIES)}")
    return _FAMILY_TOKENS[family]


def _chat_template(family: str) -> str:
    toks = _family_tokens(family)
    return (
        _CHAT_TEMPLATE.replace("@VISION_BOS@", toks.vision_bos)
        .replace("@VISION_EOS@", toks.vision_eos)
        .replace("@AUDIO_BOS@", toks.audio_bos)
        .replace("@AUDIO_EOS@", toks.audio_eos)
        .replace("@VIDEO@", toks.video)
        .replace("@AUDIO@", toks.audio)
        .replace("@IMAGE@", toks.image)
    )
