"""Tiny video-only (Qwen2.5-VL) and audio-only (Qwen2-Audio) models for the hf_generic tests.

Built like the kit in :mod:`avem_plugins.testing.tiny` (random weights, a locally trained tokenizer,
default processors), saved with ``save_pretrained`` so they load from a path offline.
"""

from __future__ import annotations

from pathlib import Path

from avem_plugins.testing.tiny import QWEN2_5_VISION, build_tokenizer


def build_tiny_video_only(out_dir: Path) -> Path:
    """A tiny Qwen2.5-VL (video and images, no audio) with a Qwen2-VL processor."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    # The Qwen3-Omni spellings are Qwen2-VL's (<|vision_start|><|video_pad|><|vision_end|>).
    tok = build_tokenizer("qwen3_omni")
    ids = {
        t: tok.convert_tokens_to_ids(t)
        for t in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    }
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": (len(tok) + 63) // 64 * 64,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1e6,
                "mrope_section": [1, 1, 2],
            },
            "pad_token_id": tok.pad_token_id,
            "bos_token_id": None,
            "eos_token_id": tok.eos_token_id,
        },
        vision_config=dict(QWEN2_5_VISION),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(0)
    Qwen2_5_VLForConditionalGeneration(config).eval().save_pretrained(out_dir)
    Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(),
        tokenizer=tok,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=tok.chat_template,
    ).save_pretrained(out_dir)
    return out_dir


def build_tiny_audio_only(out_dir: Path) -> Path:
    """A tiny Qwen2-Audio (audio, no video) with a Qwen2-Audio processor."""
    import torch
    from transformers import (
        Qwen2AudioConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        WhisperFeatureExtractor,
    )

    # The Qwen2.5-Omni spellings are Qwen2-Audio's (<|audio_bos|><|AUDIO|><|audio_eos|>).
    tok = build_tokenizer("qwen2_5_omni")
    config = Qwen2AudioConfig(
        audio_config={
            "d_model": 32,
            "encoder_layers": 2,
            "encoder_attention_heads": 4,
            "encoder_ffn_dim": 32,
            "num_mel_bins": 128,
        },
        text_config={
            "model_type": "qwen2",
            "vocab_size": (len(tok) + 63) // 64 * 64,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "pad_token_id": tok.pad_token_id,
            "bos_token_id": None,
            "eos_token_id": tok.eos_token_id,
        },
        audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"),
    )
    torch.manual_seed(0)
    Qwen2AudioForConditionalGeneration(config).eval().save_pretrained(out_dir)
    Qwen2AudioProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=128),
        tokenizer=tok,
        chat_template=tok.chat_template,
    ).save_pretrained(out_dir)
    return out_dir
