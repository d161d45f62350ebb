"""What the evaluated model of this process used, for the results file.

lmms-eval 0.7.3 gives models no field in its results file, so the ``avem_av`` model
records its effective settings here when it loads (:func:`record`: adapter, the media
modalities actually fed and the ones requested, frames, sample rate, ...), and our tasks'
``model_modalities`` metric reads them back (:func:`current`) when lmms-eval aggregates.
Both run in the same process (each rank under ``accelerate launch``). Any other model
records nothing, and the metric says so.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_info: dict[str, Any] = {}


def record(info: dict[str, Any]) -> None:
    """Replace this process's run info (called by the ``avem_av`` model when it loads)."""
    with _lock:
        _info.clear()
        _info.update(info)


def current() -> dict[str, Any]:
    """A copy of what the last ``avem_av`` model of this process recorded (``{}`` if none)."""
    with _lock:
        return dict(_info)


def clear() -> None:
    """Forget the recorded run info (tests, or a process that evaluates several models)."""
    record({})
