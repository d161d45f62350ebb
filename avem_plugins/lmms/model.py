"""The ``avem_av`` lmms-eval model: any adapter-supported model, fed video *and* audio.

Usage::

    lmms-eval --model avem_av --model_args pretrained=Qwen/Qwen2.5-Omni-7B,modalities=av \\
        --tasks emorealm

model_args (all optional but ``pretrained``):

- ``pretrained``: local path or hub id, or a LoRA output folder (its
  ``adapter_config.json`` names the base); ``peft``: a LoRA adapter folder to apply and merge;
  ``adapter``: ``auto`` (from the config) or a name (``avem plugins`` lists them);
  ``trust_remote_code`` (default false);
- ``modalities``: ``av`` (default), ``audio``, ``video`` or ``text`` (the text-prior probe:
  the same question with no media);
- ``num_frames`` (8), ``sample_rate`` (16000), ``media_backend`` (auto|pyav|decord|torchcodec;
  auto = PyAV, one pass per clip), ``missing_audio`` (error|silence: what to do with a video
  that has no audio track);
- ``media_prefetch`` (2): batches whose media are decoded ahead, in a background thread,
  while the model generates (:mod:`avem_plugins.lmms.prefetch`); ``0`` decodes each batch
  when it is reached. Answers, their order, the journal and error reports are the same
  either way; :attr:`AvemAV.media_stats` says how long generation waited for media;
  ``media_process`` (true): with prefetching, the decoding itself runs in one child process
  (forked at start) so it never competes with the model's Python for the GIL;
- ``audio_min_seconds`` (1.0) / ``audio_max_seconds`` (30.0): audio is zero-padded to the
  first and cut at the second, as in the AVERE authors' evaluation (``none`` turns a side
  off); frames are taken at ``floor(linspace(0, n - 1, num_frames))`` and multi-channel
  audio keeps its first channel (:mod:`avem_plugins.media`'s ``FRAME_RULE``,
  ``AUDIO_CHANNEL_RULE``). All four are part of the journal identity;
- ``seed``: the base of the per-batch sampling seed when a task or ``--gen_kwargs`` samples
  (``temperature`` > 0); default: torch's seed at start, i.e. lmms-eval's ``--seed``. Each
  batch draws from ``hash(seed, its request ids)``, so a sampled run is reproducible
  whatever the order, resumption or other tasks (for the same ``batch_size``);
- ``device`` (cpu, cuda, cuda:N; default: the accelerator's device), ``dtype`` (auto,
  float32, bfloat16, float16), ``batch_size`` (1), ``max_new_tokens`` (256);
- ``fail_fast`` (false): re-raise the first generation error instead of counting it;
- adapter options: ``video_min_pixels``, ``video_max_pixels``, ``system_prompt``,
  ``interleave_audio_in_video`` (Qwen-Omni);
- ``journal`` (or ``AVEM_EVAL_JOURNAL``): a folder where each answer is written as soon as
  it exists, so a killed run resumes without generating finished answers again
  (:mod:`avem_plugins.lmms.journal`; lmms-eval's ``--use_cache`` keeps only finished runs).

Two classes serve the two request forms lmms-eval 0.7.3 has (it validates ``is_simple``
against the form it resolves, so one class cannot serve both): :class:`AvemAV` (chat:
reads ``doc_to_messages``; the default) and :class:`AvemAVSimple` (``--force_simple``:
reads ``doc_to_text`` + ``doc_to_visual``). See :mod:`avem_plugins.lmms.requests` for the
media convention.

Errors are never silent empty answers: a request whose media cannot be decoded or whose
generation fails gets :data:`GENERATION_ERROR` as its answer, is counted
(:attr:`AvemAV.error_count`), logged with its task and doc id, and summarised at the end
of each call; ``fail_fast=true`` re-raises instead.

The effective modalities and adapter are logged at start (a warning when the model lacks
a requested modality) and kept in :attr:`AvemAV.run_info` and recorded in :mod:`avem_plugins.runinfo`, where
our tasks and reports read them (lmms-eval 0.7.3 offers models no field in the
results file).

Data parallel: under ``accelerate launch`` or ``torchrun`` each process loads its own copy
on its own device; ``rank``, ``world_size``, ``accelerator`` and ``device`` are what
lmms-eval's evaluator uses to shard requests and gather results.
"""

from __future__ import annotations

from avem_plugins.extras import RequirementError, require_transformers
from avem_plugins.lmms.failures import exit_if_cli

try:  # one line under transformers 4.x (README: Install), not a traceback from deep inside
    require_transformers("avem_av (avem-plugins' lmms-eval model)")
except RequirementError as _err:
    exit_if_cli(_err)  # in the lmms-eval CLI: that line and exit status 1
    raise

import hashlib
import json
import logging
import os
import weakref
from collections import defaultdict
from pathlib import Path
from typing import Any

from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms

from avem_plugins import runinfo
from avem_plugins.adapters.base import Example
from avem_plugins.lmms.journal import ENV_VAR as JOURNAL_ENV
from avem_plugins.lmms.journal import AnswerJournal, request_key
from avem_plugins.lmms.prefetch import DecodeProcess, MediaPrefetcher, PrefetchStats
from avem_plugins.lmms.requests import AVRequest, from_chat, from_simple
from avem_plugins.media import (
    AUDIO_CHANNEL_RULE,
    AUDIO_MAX_SECONDS,
    AUDIO_MIN_SECONDS,
    FRAME_RULE,
    Media,
)
from avem_plugins.modality import parse_modalities
from avem_plugins.registry import get_adapter

logger = logging.getLogger(__name__)

#: The answer of a request that failed (counted and logged). It has no standalone letter
#: and no emotion word, so answer parsers score it as unparseable, never as a choice.
GENERATION_ERROR = "<avem_av generation error>"


def resolve_peft(pretrained: str, peft: str | None) -> tuple[str, str | None]:
    """``(base model, LoRA adapter dir)``: ``pretrained`` may itself be a PEFT adapter folder.

    A folder with ``adapter_config.json`` and no ``config.json`` (what ``trl dpo`` /
    ``avem dpo`` write with LoRA) names its base in ``base_model_name_or_path``; an explicit
    ``peft=DIR`` model argument is applied on top of ``pretrained``.
    """
    folder = Path(pretrained)
    if (
        peft is None
        and (folder / "adapter_config.json").is_file()
        and not (folder / "config.json").is_file()
    ):
        base = json.loads((folder / "adapter_config.json").read_text()).get(
            "base_model_name_or_path"
        )
        if not base:
            raise ValueError(
                f"{folder / 'adapter_config.json'} has no base_model_name_or_path; pass "
                "pretrained=BASE,peft=ADAPTER_DIR"
            )
        return str(base), str(folder)
    return pretrained, peft


def merge_peft(model: Any, adapter_dir: str) -> Any:
    """Apply a LoRA adapter and merge it into the weights (faster generation)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter_dir).merge_and_unload().eval()


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class AvemAV(lmms):
    """The chat form of ``avem_av`` (reads the task's ``doc_to_messages``)."""

    is_simple = False

    def __init__(
        self,
        pretrained: str,
        adapter: str = "auto",
        modalities: str = "av",
        num_frames: int = 8,
        sample_rate: int = 16000,
        device: str | None = None,
        dtype: str = "auto",
        batch_size: int | str = 1,
        max_new_tokens: int = 256,
        trust_remote_code: bool | str = False,
        fail_fast: bool | str = False,
        media_backend: str = "auto",
        media_prefetch: int | str = 2,
        media_process: bool | str = True,
        missing_audio: str = "error",
        video_min_pixels: int | None = None,
        video_max_pixels: int | None = None,
        system_prompt: str | None = None,
        interleave_audio_in_video: bool | str | None = None,
        max_batch_size: int | None = None,
        peft: str | None = None,
        journal: str | None = None,
        audio_min_seconds: float | str | None = AUDIO_MIN_SECONDS,
        audio_max_seconds: float | str | None = AUDIO_MAX_SECONDS,
        seed: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if kwargs:
            raise TypeError(
                f"avem_av got unknown model_args {sorted(kwargs)}; see "
                "`python -c 'import avem_plugins.lmms.model as m; help(m)'`"
            )
        import torch
        from accelerate import Accelerator
        from transformers import AutoConfig

        self.requested = parse_modalities(modalities)
        self.num_frames = int(num_frames)
        self.sample_rate = int(sample_rate)
        self.batch_size_per_gpu = _batch_size(batch_size)
        self.max_new_tokens = int(max_new_tokens)
        self.fail_fast = _as_bool(fail_fast)
        self.media_backend = media_backend
        self.media_prefetch = int(media_prefetch)
        if self.media_prefetch < 0:
            raise ValueError(f"avem_av: media_prefetch={media_prefetch!r} must be >= 0")
        self.media_stats = PrefetchStats()
        # forked now, before the model and tokenizer start threads of their own
        self._decoder = None
        if self.media_prefetch > 0 and _as_bool(media_process) and DecodeProcess.available():
            self._decoder = DecodeProcess().start()
            weakref.finalize(self, self._decoder.close)
        self.missing_audio = missing_audio
        self.audio_min_seconds = _optional_seconds(audio_min_seconds, "audio_min_seconds")
        self.audio_max_seconds = _optional_seconds(audio_max_seconds, "audio_max_seconds")
        # lmms-eval seeds torch (--seed) before it builds the model
        self.sample_seed = int(seed) if seed not in (None, "") else int(torch.initial_seed())
        self.error_count = 0
        self.errors: list[dict[str, Any]] = []

        self.accelerator = Accelerator()
        self._rank, self._world_size = _rank_and_world(self.accelerator)
        self._device = self._pick_device(device, torch)

        remote = _as_bool(trust_remote_code)
        pretrained, peft = resolve_peft(pretrained, peft)
        config = AutoConfig.from_pretrained(pretrained, trust_remote_code=remote)
        options: dict[str, Any] = {}
        for key, value in (
            ("video_min_pixels", video_min_pixels),
            ("video_max_pixels", video_max_pixels),
            ("system_prompt", system_prompt),
            ("interleave_audio_in_video", interleave_audio_in_video),
        ):
            if value is not None:
                options[key] = value
        self.adapter = get_adapter(adapter, config, **options)
        loaded = self.adapter.load(
            pretrained, dtype=dtype, device=str(self._device), trust_remote_code=remote
        )
        self._model, self.processor = loaded.model, loaded.processor
        if peft:
            self._model = merge_peft(self._model, peft)
        self._tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self._config = self._model.config
        self.modalities = self.adapter.effective_modalities(self.requested)
        self.run_info = {
            "model": "avem_av",
            "pretrained": str(pretrained),
            "peft": peft,
            "adapter": self.adapter.name,
            "requested_modalities": sorted(self.requested),
            "modalities": sorted(self.modalities),
            "num_frames": self.num_frames,
            "sample_rate": self.sample_rate,
            "frame_rule": FRAME_RULE,
            "audio_channel": AUDIO_CHANNEL_RULE,
            "audio_min_seconds": self.audio_min_seconds,
            "audio_max_seconds": self.audio_max_seconds,
            "device": str(self._device),
            "world_size": self._world_size,
        }
        self.journal = None
        journal = journal or os.environ.get(JOURNAL_ENV)
        if journal:
            self.journal = AnswerJournal(journal, rank=self._rank)
            self.run_info["journal"] = str(journal)
        self._identity = {
            **{k: self.run_info[k] for k in ("pretrained", "peft", "adapter", "modalities")},
            **{k: self.run_info[k] for k in ("num_frames", "sample_rate")},
            # the media conventions: a journal written under other ones is never reused
            **{
                k: self.run_info[k]
                for k in ("frame_rule", "audio_channel", "audio_min_seconds", "audio_max_seconds")
            },
            "dtype": str(dtype),
            "options": {k: str(v) for k, v in sorted(options.items())},
        }
        runinfo.record(self.run_info)
        if self.rank == 0:
            missing = self.requested - self.modalities
            if missing:
                logger.warning(
                    "avem_av: %s cannot take %s; running with modalities=%s instead of %s",
                    pretrained,
                    sorted(missing),
                    ",".join(sorted(self.modalities)) or "text",
                    ",".join(sorted(self.requested)) or "text",
                )
            logger.info("avem_av run info: %s", json.dumps(self.run_info))

    # ------------------------------------------------------------------ lmms-eval API

    @classmethod
    def create_from_arg_string(
        cls, arg_string: str, additional_config: dict[str, Any] | None = None
    ) -> AvemAV:
        """Like lmms-eval's, but ``model_args`` win over the CLI's defaults.

        lmms-eval always passes ``--batch_size`` (default 1) and ``--device``; giving the
        same key in ``model_args`` would otherwise be a duplicate-argument error.
        """
        from lmms_eval import utils

        args = utils.simple_parse_args_string(arg_string)
        extra = {k: v for k, v in (additional_config or {}).items() if v is not None}
        for key in list(extra):
            if key in args:
                extra.pop(key)
        return cls(**args, **extra)

    @property
    def model(self) -> Any:
        return self._model

    @property
    def config(self) -> Any:
        return self._config

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_gpu

    @property
    def device(self) -> Any:
        return self._device

    @property
    def eot_token_id(self) -> int | None:
        return self._tokenizer.eos_token_id

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        raise NotImplementedError(
            "avem_av implements generate_until only; use a generation task (output_type: "
            "generate_until)"
        )

    def generate_until_multi_round(self, requests: list[Instance]) -> list[str]:
        raise NotImplementedError("avem_av does not implement multi-round generation")

    def parse_request(self, index: int, request: Instance) -> AVRequest:
        """One lmms-eval request as an :class:`AVRequest` (chat form)."""
        return from_chat(index, request.args, self.task_dict)

    def generate_until(self, requests: list[Instance]) -> list[str]:
        """Answer ``requests`` in batches; failures are counted, logged and marked."""
        from tqdm import tqdm

        parsed = [self.parse_request(i, r) for i, r in enumerate(requests)]
        answers: list[str | None] = [None] * len(parsed)
        keys: dict[int, str] = {}
        reused = 0
        groups: dict[str, list[AVRequest]] = defaultdict(list)
        for req in parsed:
            if req.error is not None:
                answers[req.index] = self._fail(req, req.error)
                continue
            if self.journal is not None:
                keys[req.index] = request_key(self._journal_identity(req), req)
                done = self.journal.get(keys[req.index])
                if done is not None:
                    answers[req.index] = done
                    reused += 1
                    continue
            groups[req.group_key(self.modalities)].append(req)
        if reused and self.journal is not None:
            logger.warning(  # a warning, so nobody mistakes reused answers for new ones
                "avem_av: %d of %d answers taken from the journal %s",
                reused,
                len(parsed),
                self.journal.folder,
            )
        bar = tqdm(total=len(parsed), disable=self.rank != 0, desc="avem_av responding")
        bar.update(sum(a is not None for a in answers))
        errors_before = self.error_count
        batches = [
            members[start : start + self.batch_size]
            for members in (groups[key] for key in sorted(groups))
            for start in range(0, len(members), self.batch_size)
        ]
        # the next batches' media decode in a background thread while this one generates
        prefetch = MediaPrefetcher(self._media, depth=self.media_prefetch, stats=self.media_stats)
        for batch, media in prefetch.batches(batches):
            for req, text in zip(batch, self._answer_batch(batch, media), strict=True):
                answers[req.index] = text
                if self.journal is not None and text != GENERATION_ERROR:
                    self.journal.add(keys[req.index], text, label=req.label)
                self.cache_hook.add_partial("generate_until", (req.prompt, req.gen_kwargs), text)
            bar.update(len(batch))
        bar.close()
        failed = self.error_count - errors_before
        if failed:
            logger.error(
                "avem_av: %d of %d requests failed on rank %d and were answered %r "
                "(see the errors above; fail_fast=true stops at the first)",
                failed,
                len(parsed),
                self.rank,
                GENERATION_ERROR,
            )
        return [a if a is not None else GENERATION_ERROR for a in answers]

    # ------------------------------------------------------------------ internals

    def _journal_identity(self, req: AVRequest) -> dict[str, Any]:
        """The model identity for ``req``'s journal key (plus the seed when it samples)."""
        if _sampling_temperature(req.gen_kwargs) > 0:
            return {**self._identity, "sample_seed": self.sample_seed}
        return self._identity

    def _pick_device(self, device: str | None, torch: Any) -> Any:
        if device in (None, "", "auto"):
            return self.accelerator.device
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None and self._world_size > 1:
            return torch.device(f"cuda:{self.accelerator.local_process_index}")
        return dev

    def _fail(self, req: AVRequest, message: str) -> str:
        self.error_count += 1
        self.errors.append({"task": req.task, "doc_id": req.doc_id, "error": message})
        logger.error("avem_av: %s failed: %s", req.label, message)
        return GENERATION_ERROR

    def _answer_batch(self, batch: list[AVRequest], media: list[Any] | None = None) -> list[str]:
        """Answers of one batch; ``media[i]`` is ``batch[i]``'s decoded media or its exception."""
        examples: list[Example | None] = []
        for i, req in enumerate(batch):
            try:
                got = self._media(req) if media is None else media[i]
                if isinstance(got, BaseException):
                    raise got  # decoded in the background: reported as if decoded here
                examples.append(self._example(req, got))
            except Exception as err:
                if self.fail_fast:
                    raise
                examples.append(None)
                self._fail(req, f"{type(err).__name__}: {err}")
        good = [(req, ex) for req, ex in zip(batch, examples, strict=True) if ex is not None]
        out = {req.index: GENERATION_ERROR for req in batch}
        if not good:
            return [out[req.index] for req in batch]
        try:
            texts = self._generate([ex for _, ex in good], good[0][0].gen_kwargs)
            for (req, _), text in zip(good, texts, strict=True):
                out[req.index] = text
        except Exception as err:
            if self.fail_fast:
                raise
            if len(good) == 1:
                self._fail(good[0][0], f"{type(err).__name__}: {err}")
            else:  # isolate the failing request(s)
                for req, ex in good:
                    try:
                        out[req.index] = self._generate([ex], req.gen_kwargs)[0]
                    except Exception as one:
                        self._fail(req, f"{type(one).__name__}: {one}")
        return [out[req.index] for req in batch]

    def _example(self, req: AVRequest, media: Media | None = None) -> Example:
        return Example(
            prompt=req.prompt,
            media=self._media(req) if media is None else media,
            id=f"{req.task}/{req.doc_id}",
            system=req.system,
        )

    def _media(self, req: AVRequest) -> Media:
        from avem_plugins.media import example_media

        want_video = "video" in self.modalities and req.video is not None
        want_audio = "audio" in self.modalities and (
            req.audio is not None or (req.audio_from_video and req.video is not None)
        )
        return example_media(
            req.video,
            req.audio,
            want_video=want_video,
            want_audio=want_audio,
            num_frames=self.num_frames,
            sample_rate=self.sample_rate,
            backend=self.media_backend,
            missing_audio=self.missing_audio,
            audio_min_seconds=self.audio_min_seconds,
            audio_max_seconds=self.audio_max_seconds,
            decode=self._decoder,  # None: decode_clip in this thread
        )

    def _generate(self, examples: list[Example], gen_kwargs: dict[str, Any]) -> list[str]:
        import torch

        inputs = self.adapter.generation_inputs(
            self.processor, examples, modalities=self.modalities
        )
        inputs = inputs.to(self.device)
        dtype = getattr(self.model, "dtype", None)
        for key, value in list(inputs.items()):
            if isinstance(value, torch.Tensor) and value.is_floating_point() and dtype:
                inputs[key] = value.to(dtype)
        kwargs = dict(gen_kwargs)
        until = kwargs.pop("until", None)
        until = [until] if isinstance(until, str) else list(until or [])
        temperature = _sampling_temperature(kwargs)
        kwargs.pop("temperature", None)
        top_p = kwargs.pop("top_p", None)
        generate_kwargs: dict[str, Any] = {
            "max_new_tokens": int(kwargs.pop("max_new_tokens", self.max_new_tokens)),
            "num_beams": int(kwargs.pop("num_beams", 1) or 1),
            "do_sample": temperature > 0,
            "eos_token_id": self._eos_ids(),
            "pad_token_id": self._pad_id(),
        }
        if temperature > 0:
            generate_kwargs["temperature"] = temperature
            if top_p is not None:
                generate_kwargs["top_p"] = float(top_p)
        with torch.inference_mode(), torch.random.fork_rng(devices=self._rng_devices()):
            if temperature > 0:  # a seed of its own per batch: see ``seed`` above
                torch.manual_seed(batch_seed(self.sample_seed, [str(ex.id) for ex in examples]))
            output = self.model.generate(**inputs, **generate_kwargs)
        if isinstance(output, tuple):
            output = output[0]
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        texts = self.adapter.decode(self.processor, new_tokens)
        return [_cut(text, until) for text in texts]

    def _rng_devices(self) -> list[Any]:
        return [self.device] if getattr(self.device, "type", "cpu") == "cuda" else []

    def _eos_ids(self) -> list[int]:
        ids: list[int] = []
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        if isinstance(configured, int):
            ids.append(configured)
        elif configured:
            ids.extend(int(i) for i in configured)
        tok = self._tokenizer
        if tok.eos_token_id is not None:
            ids.append(int(tok.eos_token_id))
        im_end = (
            tok.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tok.get_vocab() else None
        )
        if im_end is not None:
            ids.append(int(im_end))
        return list(dict.fromkeys(ids))

    def _pad_id(self) -> int | None:
        tok = self._tokenizer
        return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


class AvemAVSimple(AvemAV):
    """The simple form of ``avem_av`` (``--force_simple``: ``doc_to_text`` + ``doc_to_visual``)."""

    is_simple = True

    def parse_request(self, index: int, request: Instance) -> AVRequest:
        return from_simple(index, request.args, self.task_dict)


def _batch_size(value: int | str) -> int:
    """``N``; lmms-eval's ``auto``/``auto:N`` (no automatic search here) mean 1 / ``N``."""
    text = str(value).strip().lower()
    if text.startswith("auto"):
        _, _, n = text.partition(":")
        logger.info("avem_av: batch_size=%s has no automatic search; using %s", value, n or 1)
        return max(1, int(n or 1))
    return max(1, int(text))


def _optional_seconds(value: float | str | None, name: str) -> float | None:
    if value is None or str(value).strip().lower() in ("", "none", "off"):
        return None
    seconds = float(value)
    if seconds <= 0:
        raise ValueError(f"avem_av: {name}={value!r} must be > 0 (or none)")
    return seconds


def _sampling_temperature(gen_kwargs: dict[str, Any]) -> float:
    """The temperature a request samples at (0: greedy, the tasks' default)."""
    return float(gen_kwargs.get("temperature", 0) or 0)


def batch_seed(base: int, ids: list[str]) -> int:
    """The sampling seed of one batch: a hash of the base seed and its requests' ids."""
    blob = json.dumps([int(base), list(ids)]).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big") & (2**63 - 1)


def _cut(text: str, until: list[str]) -> str:
    for stop in until:
        if stop:
            text = text.split(stop, 1)[0]
    return text


def _rank_and_world(accelerator: Any) -> tuple[int, int]:
    """This process's rank and the number of processes.

    On GPUs the accelerator knows both. Under torchrun on CPU, ``Accelerator()`` sets up no
    distribution (one process as far as it knows) while lmms-eval's evaluator shards the
    requests by ``RANK`` / ``WORLD_SIZE``: take those then, so each rank keeps its own
    journal file (``rank_<r>.jsonl``) instead of every process appending to ``rank_0``.
    """
    if accelerator.num_processes > 1:
        return accelerator.process_index, accelerator.num_processes
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    return (int(os.environ.get("RANK", "0") or 0), world) if world > 1 else (0, 1)
