"""A crash-safe answer journal for ``avem_av``: a killed evaluation resumes where it stopped.

lmms-eval 0.7.3's ``--use_cache`` stores answers only after the model has answered *every*
request of a run, so a run killed mid-generation keeps nothing. With ``journal=DIR`` in the
model arguments (or ``AVEM_EVAL_JOURNAL=DIR``), ``avem_av`` appends each answer to
``DIR/rank_<r>.jsonl`` as soon as its batch is done (flush + fsync), and a later run with the
same journal answers those requests from it instead of generating again.

The key of an answer covers everything that decides it: the task, doc id, prompt, generation
settings, the media files (path, size, mtime) and the model's identity (pretrained, LoRA
adapter, adapter, modalities, frames, sample rate, and the media conventions: the frame
index rule, the audio channel rule and the audio pad/cut lengths; plus the sampling seed
when a request samples). Change any of them and the answer is generated anew, so answers
made under another protocol are never reused. Generation errors are never journaled. A
torn last line (a kill during the write) is ignored on reading.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ENV_VAR = "AVEM_EVAL_JOURNAL"


def _media_stamp(path: Any) -> Any:
    if not isinstance(path, str | os.PathLike):
        return repr(type(path))  # in-memory media: identified by the doc and prompt
    try:
        stat = os.stat(path)
    except OSError:
        return [str(path), None]
    return [str(path), stat.st_size, stat.st_mtime_ns]


def request_key(model_identity: dict[str, Any], request: Any) -> str:
    """A stable hash of everything that decides one request's answer."""
    payload = {
        "model": model_identity,
        "task": request.task,
        "doc_id": str(request.doc_id),
        "prompt": request.prompt,
        "system": request.system,
        "gen_kwargs": request.gen_kwargs,
        "video": _media_stamp(request.video) if request.video is not None else None,
        "audio": _media_stamp(request.audio) if request.audio is not None else None,
        "audio_from_video": request.audio_from_video,
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


class AnswerJournal:
    """Append-only per-rank answers; reads every rank's file so a resize still resumes."""

    def __init__(self, folder: str | Path, rank: int = 0) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"rank_{rank}.jsonl"
        self.answers: dict[str, str] = {}
        self.torn = 0
        for file in sorted(self.folder.glob("rank_*.jsonl")):
            with file.open(encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        record = json.loads(line)
                        self.answers[record["key"]] = record["answer"]
                    except (json.JSONDecodeError, KeyError, TypeError):
                        self.torn += 1
        if self.torn:
            logger.warning(
                "avem_av journal %s: ignored %d unreadable line(s)", self.folder, self.torn
            )
        self._fh = self.path.open("a", encoding="utf-8")

    def get(self, key: str) -> str | None:
        """The journaled answer of ``key``, if any."""
        return self.answers.get(key)

    def add(self, key: str, answer: str, *, label: str = "") -> None:
        """Record one answer durably (flush + fsync)."""
        self.answers[key] = answer
        self._fh.write(json.dumps({"key": key, "answer": answer, "request": label}) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
