"""Import the authors' DPO JSON into our preference schema, and export a preference file for
training.

**Import** (:func:`import_authors`). The AVERE authors' DPO file is a JSON list of objects
with ``prompt`` (starting ``"<video>\\n<audio>\\n"``), ``chosen``, ``rejected``,
``rejected_2``, ``video``, ``audio``, ``video_l``, ``audio_l``. It loads as is through
:mod:`avem_plugins.prefs.schema` (markers stripped, paths resolved under the media root, modality
inferred); the import writes the result as JSONL in the SPEC §3.3 schema, with media paths
relative to the media root and ``modality`` written out (its inference is counted and logged,
and becomes a reviewable field of the file). Their media are not distributed: pass
``check_exists=False`` (``--no-check-media``) to import before the clips are in place.

**Export** (:func:`export_preferences`) writes into a folder:

- ``train.jsonl`` (format ``jsonl``): rows in the SPEC §3.3 schema, media paths relative to
  the media root. Pass the **folder** as ``--dataset_name OUT --media_root ROOT``. Why the
  folder: TRL 1.16's ``trl/scripts/dpo.py`` calls ``datasets.load_dataset(dataset_name)``,
  and with datasets 5.2 that accepts a local folder of data files (``train.jsonl`` becomes
  the ``train`` split, other files in the folder are ignored) but not a bare file path
  ("Couldn't find any data file"), nor a ``save_to_disk`` folder ("use load_from_disk").
  Our launcher (``avem dpo`` / ``trl dpo --recipe``, :func:`avem_plugins.dpo.train.load_split`)
  takes the folder the same way and also ``--dataset_name OUT/train.jsonl`` (it reads
  ``.jsonl``/``.json`` files itself); either way the trainer validates the rows and
  resolves the paths against ``--media_root``.
- ``dataset/`` (format ``disk``): the validated, normalised ``datasets.Dataset``
  (:data:`avem_plugins.prefs.schema.COLUMNS`, absolute media paths) saved with ``save_to_disk``; load
  it in Python with ``datasets.load_from_disk`` and hand it to ``AVEmDPOTrainer`` as
  ``train_dataset`` (it is not a ``--dataset_name``, for the reason above; being beside
  ``train.jsonl`` does not disturb loading the folder).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from avem_plugins.modality import DEFAULT_MODALITY_RULE
from avem_plugins.prefs.schema import (
    MEDIA_FIELDS,
    PreferenceSample,
    load_preferences,
    modality_not_given,
    relative_to_root,
    to_dataset,
)

logger = logging.getLogger(__name__)

#: Export formats.
EXPORT_FORMATS: tuple[str, ...] = ("jsonl", "disk")
#: Name of the JSONL file an export writes.
EXPORT_JSONL = "train.jsonl"
#: Name of the ``save_to_disk`` folder an export writes.
EXPORT_DATASET = "dataset"


class PrefsIOError(ValueError):
    """An import or export cannot proceed; the message says what to change."""


def schema_row(sample: PreferenceSample, media_root: Path) -> dict[str, Any]:
    """A sample as a SPEC §3.3 row: optional fields only when set, paths relative to the root."""
    row: dict[str, Any] = {"id": sample.id, "prompt": sample.prompt, "chosen": sample.chosen,
                           "rejected": sample.rejected}  # fmt: skip
    if sample.rejected_2 is not None:
        row["rejected_2"] = sample.rejected_2
    for name in MEDIA_FIELDS:
        value = getattr(sample, name)
        if value is not None:
            row[name] = relative_to_root(value, media_root)
    row["modality"] = sample.modality
    if sample.emotion is not None:
        row["emotion"] = sample.emotion
    return row


def _write_jsonl(rows: Sequence[dict[str, Any]], out: Path, *, force: bool) -> None:
    if out.exists() and not force:
        raise PrefsIOError(f"{out} exists; pick another --out or pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, out)


def import_authors(
    src: str | Path,
    out: str | Path,
    media_root: str | Path | None = None,
    *,
    check_exists: bool = True,
    force: bool = False,
    modality_rule: str = DEFAULT_MODALITY_RULE,
) -> list[PreferenceSample]:
    """Convert the authors' DPO JSON (or any file :mod:`avem_plugins.prefs.schema` loads) to our JSONL.

    ``media_root`` defaults to ``src``'s folder. Returns the loaded samples.
    """
    src = Path(src)
    root = (Path(media_root) if media_root is not None else src.resolve().parent).resolve()
    samples = load_preferences(src, root, check_exists=check_exists, modality_rule=modality_rule)
    inferred = modality_not_given(samples, modality_rule)
    if inferred:
        logger.warning("%s: %s and written to %s; review it there", src, inferred, out)
    _write_jsonl([schema_row(s, root) for s in samples], Path(out), force=force)
    return samples


def export_preferences(
    src: str | Path,
    out_dir: str | Path,
    media_root: str | Path | None = None,
    *,
    formats: Sequence[str] = EXPORT_FORMATS,
    check_exists: bool = True,
    force: bool = False,
) -> dict[str, Path]:
    """Validate ``src`` and export it (see the module docstring); returns ``{format: path}``."""
    bad = [f for f in formats if f not in EXPORT_FORMATS]
    if bad or not formats:
        raise PrefsIOError(f"--format {list(formats)}: choose from {list(EXPORT_FORMATS)}")
    src = Path(src)
    root = (Path(media_root) if media_root is not None else src.resolve().parent).resolve()
    samples = load_preferences(src, root, check_exists=check_exists)
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    targets = {"jsonl": out_dir / EXPORT_JSONL, "disk": out_dir / EXPORT_DATASET}
    for fmt in formats:
        if targets[fmt].exists() and not force:
            raise PrefsIOError(
                f"{targets[fmt]} exists; pick another --out or pass --force to replace it"
            )
    if "jsonl" in formats:
        _write_jsonl([schema_row(s, root) for s in samples], targets["jsonl"], force=force)
        written["jsonl"] = targets["jsonl"]
    if "disk" in formats:
        import shutil

        if targets["disk"].exists():
            shutil.rmtree(targets["disk"])
        to_dataset(samples).save_to_disk(str(targets["disk"]))
        written["disk"] = targets["disk"]
    return written
