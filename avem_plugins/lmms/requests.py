"""Turn lmms-eval requests (simple and chat forms) into audiovisual requests for ``avem_av``.

Media convention shared with our tasks:

- **chat form** (``doc_to_messages``): separate content items ``{"type": "video", "url":
  PATH}`` and ``{"type": "audio", "url": PATH}``. An audio url equal to the video's path
  means the mp4's own track; a video alone also means its own track.
- **simple form** (``doc_to_visual``): a list of paths, classified by extension (video:
  mp4/avi/mkv/webm/mov/m4v; audio: wav/flac/mp3/m4a/ogg/aac/opus), or lmms-eval's audio
  dicts ``{"array": ..., "sampling_rate": ...}``. A video alone means its own track.

Images are not supported (this is an audiovisual model); they raise a clear error for the
request instead of being dropped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from avem_plugins.media import AUDIO_SUFFIXES, VIDEO_SUFFIXES


class RequestError(ValueError):
    """A request's media or messages cannot be used; the message names the doc."""


@dataclass
class AVRequest:
    """One generation request, normalised across the simple and chat forms.

    ``audio`` is a path, an in-memory ``(array, sampling_rate)`` pair, or ``None``;
    ``audio_from_video`` says the audio is the video's own track.
    """

    index: int
    doc_id: Any
    task: str
    prompt: str
    gen_kwargs: dict[str, Any] = field(default_factory=dict)
    system: str | None = None
    video: Any = None
    audio: Any = None
    audio_from_video: bool = False
    error: str | None = None

    @property
    def label(self) -> str:
        """``task/doc_id`` for logs."""
        return f"{self.task}/doc {self.doc_id}"

    def group_key(self, modalities: frozenset[str]) -> str:
        """Requests sharing a batch must agree on generation settings and media layout."""
        has_video = "video" in modalities and self.video is not None
        own_track = has_video and "audio" in modalities and self.audio_from_video
        settings = json.dumps(self.gen_kwargs, sort_keys=True, default=str)
        return f"{settings}|video={has_video}|own_track={own_track}"


def _ext(path: Any) -> str:
    return os.path.splitext(str(path))[1].lower()


def _media_from_items(items: list[tuple[str, Any]]) -> tuple[Any, Any, bool]:
    """(video, audio, audio_from_video) from typed media items, in order."""
    videos = [url for kind, url in items if kind == "video"]
    audios = [url for kind, url in items if kind == "audio"]
    images = [url for kind, url in items if kind == "image"]
    if images:
        raise RequestError("image inputs are not supported by avem_av (an audiovisual model)")
    if len(videos) > 1 or len(audios) > 1:
        raise RequestError(
            f"avem_av takes at most one video and one audio per request; got "
            f"{len(videos)} video(s) and {len(audios)} audio item(s)"
        )
    video = videos[0] if videos else None
    audio = audios[0] if audios else None
    if video is not None and (audio is None or _same_path(audio, video)):
        return video, None, True
    return video, audio, False


def _same_path(a: Any, b: Any) -> bool:
    if not isinstance(a, (str, os.PathLike)) or not isinstance(b, (str, os.PathLike)):
        return False
    return os.path.realpath(a) == os.path.realpath(b)


def _url(value: Any) -> Any:
    if isinstance(value, dict):
        if "array" in value:
            return value
        return value.get("url") or value.get("path") or value.get("video") or value.get("audio")
    return value


def _classify_visual(visual: Any) -> tuple[str, Any]:
    if isinstance(visual, dict):
        if "array" in visual:
            return "audio", visual
        kind = visual.get("type")
        if kind in ("video", "audio", "image"):
            return kind, _url(visual)
        return _classify_visual(_url(visual))
    if isinstance(visual, (str, os.PathLike)):
        ext = _ext(visual)
        if ext in VIDEO_SUFFIXES:
            return "video", str(visual)
        if ext in AUDIO_SUFFIXES:
            return "audio", str(visual)
        raise RequestError(
            f"cannot tell whether {visual!s} is a video or an audio file (extension {ext!r}); "
            f"use one of {sorted({*VIDEO_SUFFIXES, *AUDIO_SUFFIXES})}"
        )
    if hasattr(visual, "shape") and getattr(visual, "ndim", 0) == 4:
        return "video", visual
    raise RequestError(f"unsupported visual of type {type(visual).__name__}")


def _request(
    index: int,
    ctx: Any,
    gen_kwargs: Any,
    where: tuple[Any, str, str],
    task_dict: dict[str, Any],
    fill: Callable[[AVRequest, Any], None],
) -> AVRequest:
    """One request; ``fill`` reads its doc (``where``: doc id, task, split) into it. A failure
    is recorded on the request (answered as an error, counted), never raised."""
    doc_id, task, split = where
    req = AVRequest(index=index, doc_id=doc_id, task=task, prompt=ctx or "")
    req.gen_kwargs = dict(gen_kwargs or {})
    try:
        fill(req, task_dict[task][split][doc_id])
    except Exception as err:
        req.error = f"{type(err).__name__}: {err}"
    return req


def from_simple(index: int, args: tuple[Any, ...], task_dict: dict[str, Any]) -> AVRequest:
    """A simple-form ``generate_until`` request: ``(ctx, gen_kwargs, doc_to_visual, doc_id,
    task, split)``."""
    ctx, gen_kwargs, doc_to_visual, doc_id, task, split = args[:6]

    def fill(req: AVRequest, doc: Any) -> None:
        visuals = doc_to_visual(doc) if doc_to_visual is not None else []
        items = [_classify_visual(v) for v in (visuals or []) if v is not None]
        req.video, req.audio, req.audio_from_video = _media_from_items(items)

    return _request(index, ctx, gen_kwargs, (doc_id, task, split), task_dict, fill)


def from_chat(index: int, args: tuple[Any, ...], task_dict: dict[str, Any]) -> AVRequest:
    """A chat-form ``generate_until`` request: ``(ctx, doc_to_messages, gen_kwargs, doc_id,
    task, split)``."""
    ctx, doc_to_messages, gen_kwargs, doc_id, task, split = args[:6]
    return _request(
        index, ctx, gen_kwargs, (doc_id, task, split), task_dict,
        lambda req, doc: _fill_from_messages(req, doc_to_messages(doc)),
    )  # fmt: skip


def _fill_from_messages(req: AVRequest, messages: Any) -> None:
    """System text, prompt text and media of a chat (no assistant turns)."""
    system: list[str] = []
    texts: list[str] = []
    items: list[tuple[str, Any]] = []
    for message in messages:
        role = message.get("role")
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if role == "assistant":
            raise RequestError("multi-turn chats with assistant turns are not supported")
        for item in content or []:
            kind = item.get("type")
            if kind == "text":
                (system if role == "system" else texts).append(item.get("text", ""))
            elif kind in ("video", "audio", "image"):
                items.append((kind, _url(item.get("url", item))))
            else:
                raise RequestError(f"unsupported content item type {kind!r}")
    req.system = "\n".join(system) or None
    req.prompt = "\n".join(t for t in texts if t)
    req.video, req.audio, req.audio_from_video = _media_from_items(items)
