"""Encode once: helpers to run media encoders once per unique clip and count encoder calls.

In AVEm-DPO one clip is seen many times per step: by the chosen and both rejected rows, by
the policy and by the reference pass. Running the vision and audio towers for every row
and every pass is the main waste of TRL's DPO path on audiovisual models (SPEC §5). An
adapter that supports reuse implements :meth:`~avem_plugins.adapters.base.ModelAdapter.encode_media`
(encoders once for the *unique* media of a batch) and
:meth:`~avem_plugins.adapters.base.ModelAdapter.forward_logps` (language model only, with the
stored features scattered at the placeholder positions).

Media are identified by **content**, not by path: :func:`content_key` hashes the processed
tensors of one video or audio item, so the same clip processed in two batches (chosen rows,
rejected rows, the reference pass) maps to one stored encoding, and a swapped clip never
collides with the original. Rows built by the adapters carry these keys in
``rows["media_keys"]`` (computed on the CPU when the rows are built); they are recomputed
from the tensors when absent.

:class:`EncoderCallCounter` counts encoder forward calls and encoded items through forward
hooks, for tests and benchmarks.

Nothing here is imported by ``import avem_plugins``; torch is imported lazily.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Attribute names of media encoders in ``transformers`` models, by modality.
ENCODER_NAMES: dict[str, tuple[str, ...]] = {
    "video": ("visual", "vision_tower", "vision_model", "vision_encoder"),
    "audio": ("audio_tower", "audio_encoder", "audio_model"),
}


def unwrap_model(model: Any) -> Any:
    """The underlying ``transformers`` model of a DDP/accelerate/PEFT-wrapped one.

    PEFT's LoRA layers are injected in place, so the unwrapped model still applies the
    adapter (and honours ``disable_adapter()``).
    """
    seen = 0
    while hasattr(model, "module") and seen < 8:  # DDP / DataParallel / accelerate
        model, seen = model.module, seen + 1
    if hasattr(model, "get_base_model"):  # peft.PeftModel
        model = model.get_base_model()
    return model


def find_encoders(model: Any) -> dict[str, Any]:
    """Media encoder modules of ``model`` by modality (the shallowest match of each)."""
    found: dict[str, tuple[int, Any]] = {}
    for name, module in unwrap_model(model).named_modules():
        if not name:
            continue
        leaf, depth = name.rsplit(".", 1)[-1], name.count(".")
        for modality, names in ENCODER_NAMES.items():
            if leaf in names and (modality not in found or depth < found[modality][0]):
                found[modality] = (depth, module)
    return {modality: module for modality, (_, module) in found.items()}


class EncoderCallCounter:
    """Count forward calls of a model's media encoders, and how many items each encoded.

    >>> with EncoderCallCounter(model) as counter:       # doctest: +SKIP
    ...     adapter.forward_logps(model, rows, features)
    >>> counter.calls["video"], counter.items["audio"]   # doctest: +SKIP

    ``calls[m]`` counts forward calls of modality ``m``'s encoder; ``items[m]`` counts the
    videos (rows of ``grid_thw``) or audios (entries of ``feature_lens``) they encoded,
    or 1 per call when the encoder's arguments do not say. Pass ``modules`` (e.g.
    ``adapter.encoder_modules(model)``) to choose the encoders explicitly.
    """

    def __init__(self, model: Any = None, modules: dict[str, Any] | None = None) -> None:
        if modules is None:
            if model is None:
                raise ValueError("EncoderCallCounter needs a model or modules=")
            modules = find_encoders(model)
        self.modules = modules
        self.calls: dict[str, int] = dict.fromkeys(modules, 0)
        self.items: dict[str, int] = dict.fromkeys(modules, 0)
        self._handles: list[Any] = []

    def start(self) -> EncoderCallCounter:
        """Register the hooks (idempotent)."""
        if not self._handles:
            for modality, module in self.modules.items():
                self._handles.append(
                    module.register_forward_hook(self._hook(modality), with_kwargs=True)
                )
        return self

    def stop(self) -> None:
        """Remove the hooks; the counts stay readable."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def reset(self) -> None:
        """Zero the counts."""
        for modality in self.calls:
            self.calls[modality] = self.items[modality] = 0

    def __enter__(self) -> EncoderCallCounter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _hook(self, modality: str) -> Any:
        def hook(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
            self.calls[modality] += 1
            self.items[modality] += _item_count(args, kwargs)

        return hook


def _item_count(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    for key in ("grid_thw", "feature_lens"):
        value = kwargs.get(key)
        if value is not None and hasattr(value, "shape"):
            return int(value.shape[0])
    if len(args) > 1 and hasattr(args[1], "shape") and getattr(args[1], "ndim", 0) == 2:
        return int(args[1].shape[0])  # visual(pixel_values, grid_thw)
    return 1


def content_key(*tensors: torch.Tensor) -> str:
    """A stable hex digest of tensors' shapes, dtypes and values (the media identity)."""
    digest = hashlib.blake2b(digest_size=16)
    for tensor in tensors:
        t = tensor.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.contiguous()
        digest.update(f"{tuple(t.shape)}|{t.dtype}|".encode())
        digest.update(t.view(-1).view(_byte_dtype()).numpy().data)  # the buffer, no copy
    return digest.hexdigest()


def _byte_dtype() -> Any:
    import torch

    return torch.uint8


def token_logps(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` log-probs of each token given the ones before it; column 0 is zero.

    Computed row by row in float32 so the ``(B, T, V)`` float32 log-softmax is never
    materialised at once.
    """
    import torch

    out = torch.zeros(input_ids.shape, dtype=torch.float32, device=logits.device)
    for b in range(input_ids.shape[0]):
        row = logits[b, :-1].float()
        target = input_ids[b, 1:].to(row.device)
        picked = row.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        out[b, 1:] = picked - torch.logsumexp(row, dim=-1)
    return out


def gather_logps(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Log-probs of ``targets`` under ``logits`` (``(N, V)`` and ``(N,)``), in float32."""
    import torch

    row = logits.float()
    return row.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(row, dim=-1)


def unique_in_order(keys: Iterable[str]) -> list[str]:
    """``keys`` without repeats, first occurrence first."""
    return list(dict.fromkeys(keys))
