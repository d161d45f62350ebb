"""A decode worker for the media fuzz tests: one JSON request per stdin line, one JSON answer
per stdout line.

It runs in its own process so that the parent can bound each decode in time (a hang is
killed, not waited for) and see a crash of a native decoder as a dead worker instead of dying
with it. ``argv[1]`` caps its address space (bytes; 0: no cap), so that a file declaring a
gigantic stream fails here with ``MemoryError`` instead of exhausting the machine.

Request: ``{"op": "clip" | "audio" | "frames", "path": ..., "backend": ..., "num_frames": n,
"missing_audio": "error" | "silence"}``. Answer: ``{"status": "ok", ...shapes...}``,
``{"status": "typed", "type": ..., "message": ...}`` for a :class:`~avem_plugins.media.MediaError`,
or ``{"status": "other", "type": ..., "message": ..., "traceback": ...}`` for anything else.
"""

from __future__ import annotations

import json
import resource
import sys
import traceback
from typing import Any


def _summary(frames: Any, audio: Any) -> dict[str, Any]:
    import numpy as np

    out: dict[str, Any] = {"status": "ok", "frames": None, "audio": None}
    if frames is not None:
        out["frames"] = list(frames.shape)
        out["frames_dtype"] = str(frames.dtype)
    if audio is not None:
        out["audio"] = list(audio.shape)
        out["audio_dtype"] = str(audio.dtype)
        out["audio_finite"] = bool(np.isfinite(audio).all())
        out["audio_max_abs"] = float(np.abs(audio).max()) if audio.size else 0.0
    return out


def answer(request: dict[str, Any]) -> dict[str, Any]:
    from avem_plugins import media

    op, path, backend = request["op"], request["path"], request.get("backend", "auto")
    try:
        if op == "clip":
            clip = media.decode_clip(
                path,
                num_frames=request.get("num_frames", 8),
                backend=backend,
                missing_audio=request.get("missing_audio", "error"),
                cache=None,
            )
            return _summary(clip.frames, clip.audio)
        if op == "audio":
            return _summary(None, media.load_audio(path, backend=backend, cache=None))
        if op == "frames":
            frames = media.load_frames(
                path, request.get("num_frames", 8), backend=backend, cache=None
            )
            return _summary(frames, None)
        raise ValueError(f"unknown op {op!r}")
    except media.MediaError as err:
        return {"status": "typed", "type": type(err).__name__, "message": str(err)}
    except BaseException as err:  # what the property forbids: reported, not raised
        return {
            "status": "other",
            "type": type(err).__name__,
            "message": str(err)[:2000],
            "traceback": traceback.format_exc()[-6000:],
        }


def main() -> None:
    cap = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    if cap:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    protocol = sys.stdout
    sys.stdout = sys.stderr  # nothing but answers on the protocol stream
    import avem_plugins.media  # noqa: F401  (imported before the first timed request)

    protocol.write(json.dumps({"status": "ready"}) + "\n")
    protocol.flush()
    for line in sys.stdin:
        protocol.write(json.dumps(answer(json.loads(line))) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
