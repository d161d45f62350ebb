"""The real lmms-eval CLI (``python -m lmms_eval``'s ``cli_evaluate``), with ``avem_av`` observed.

Run as ``python lmms_driver.py RECORD_FILE <lmms-eval arguments>``. It changes nothing
about the evaluation: it wraps two ``AvemAV`` methods to append one JSON line per call
to ``RECORD_FILE``, so tests can see what the model really received and did:

- ``{"event": "media", "label": "task/doc N", "error": null | "TypeName", "audio_samples":
  n, "sample_rate": r, "audio_peak_hz": f, "audio_max_abs": a, "frames": [T, H, W, 3]}``
  for every request whose media ``avem_av`` decodes;
- ``{"event": "generate", "ids": ["task/doc", ...]}`` for every ``model.generate`` batch
  (how many answers were computed rather than taken from ``--use_cache``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from avem_plugins.lmms import model as avem_model


def main() -> None:
    record, args = sys.argv[1], sys.argv[2:]

    def write(entry: dict[str, Any]) -> None:
        with open(record, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    original_media = avem_model.AvemAV._media
    original_generate = avem_model.AvemAV._generate

    def media(self: Any, req: Any) -> Any:
        entry: dict[str, Any] = {"event": "media", "label": req.label, "error": None}
        try:
            out = original_media(self, req)
        except Exception as err:
            entry["error"] = type(err).__name__
            write(entry)
            raise
        if out.audio is not None and out.audio.size:
            spectrum = np.abs(np.fft.rfft(out.audio.astype(np.float64)))
            freqs = np.fft.rfftfreq(out.audio.size, 1.0 / out.sample_rate)
            entry.update(
                audio_samples=int(out.audio.size),
                sample_rate=int(out.sample_rate),
                audio_peak_hz=float(freqs[int(spectrum.argmax())]),
                audio_max_abs=float(np.abs(out.audio).max()),
            )
        if out.frames is not None:
            entry["frames"] = list(out.frames.shape)
        write(entry)
        return out

    def generate(self: Any, examples: list[Any], gen_kwargs: dict[str, Any]) -> list[str]:
        write({"event": "generate", "ids": [ex.id for ex in examples]})
        return original_generate(self, examples, gen_kwargs)

    avem_model.AvemAV._media = media  # type: ignore[method-assign]
    avem_model.AvemAV._generate = generate  # type: ignore[method-assign]

    from lmms_eval.__main__ import cli_evaluate

    sys.argv = ["lmms-eval", *args]
    cli_evaluate()


if __name__ == "__main__":
    main()
