"""Fuzzed EmoReAlM questions files (``tasks/emorealm/utils.py``): read, then built into docs.

Valid files (items of the five subtasks, 4-choice and yes/no, paths under ``DFEW_ROOT``)
are mutated structurally (a field dropped, repeated in the same object or given an odd
value, a ``..``/absolute/symlink clip path, items repeated, dropped or not objects) and then
as bytes (truncated, BOM, CRLF, invalid UTF-8, flipped or zeroed bytes). The reader returns
every item or raises ``TaskDataError`` naming the file and the item/field; ``build_docs``
then keeps each item of its subtask or counts it as missing media. ``DFEW_ROOT`` holds a
symlink loop (a folder containing itself twice), which the clip index must not follow forever.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from avem_plugins.tasks.emorealm import utils
from fuzz_support import (
    DEFAULT_TIER,
    SLOW_TIER,
    capture_logs,
    env,
    make_sandbox,
    mutate_bytes,
    mutate_records,
    outcome,
    scratch_dir,
    to_json,
)
from hypothesis import given
from hypothesis import strategies as st

from avem_plugins.scoring import taskdata

#: Clip files whose stems ``str.isdigit`` accepts but DFEW never names so.
ODD_CLIPS = ("²³.mp4", "٣.mp4", "9" * 200 + ".mp4")
EMOTIONS = ["Happiness", "Sadness", "Anger", "Fear", "Surprise", "Disgust", "Neutral"]
FILE_LEVEL = (r"expected a JSON list", r"cannot read", r"not UTF-8")


@st.composite
def valid_items(draw: st.DrawFn) -> list[dict[str, Any]]:
    items = []
    for i in range(draw(st.integers(0, 6))):
        task = draw(st.sampled_from(utils.TASKS))
        item: dict[str, Any] = {
            "id": f"{task}_{i:03d}",
            "video": f"part_{i % 2 + 1}/{i + 1}.mp4",
            "task": task,
            "question": draw(st.sampled_from(["Which emotion?", "<video>\nDoes the voice fit?"])),
        }
        if task in utils.YES_NO_TASKS:
            item["choices"] = ["(A) Yes", "(B) No"]
            item["answer"] = draw(st.sampled_from("AB"))
        else:
            options = draw(st.permutations(EMOTIONS))[:4]
            item["choices"] = [f"({'ABCD'[k]}) {o}" for k, o in enumerate(options)]
            item["answer"] = draw(st.sampled_from("ABCD"))
        items.append(item)
    return items


@st.composite
def questions_files(draw: st.DrawFn) -> bytes:
    items = draw(valid_items())
    mutated = draw(
        mutate_records(
            items,
            fields=[*utils.REQUIRED_FIELDS, "stress_kind"],
            path_fields=["video"],
            root=Path("/dfew-root"),
        )
    )
    top: Any = mutated if draw(st.integers(0, 19)) else {"items": mutated}  # rarely not a list
    return draw(mutate_bytes(to_json(top).encode("utf-8", "surrogatepass")))


def _json_items(data: bytes) -> list[Any] | None:
    """The top-level list as Python's json reads it (None when it does not)."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, list) else None


def check_questions_file(data: bytes) -> None:
    with scratch_dir() as tmp:
        base = Path(tmp)
        root = make_sandbox(base)
        os.symlink(root, root / "loop2")  # two ways back in: a naive walk never ends
        for i in range(1, 5):
            clip = root / f"part_{i % 2 + 1}" / f"{i}.mp4"
            clip.parent.mkdir(exist_ok=True)
            clip.write_bytes(b"x")
        for odd in ODD_CLIPS:  # names that look like ids to str.isdigit
            (root / "part_2" / odd).write_bytes(b"x")
        path = base / "emorealm_v1.json"
        path.write_bytes(data)
        with capture_logs(utils.logger.name) as logs:
            read = outcome(
                lambda: utils._read_items.__wrapped__(str(path), 0.0),
                taskdata.TaskDataError,
                path,
                file_level=FILE_LEVEL,
            )
        if not read.ok:
            return
        items = read.value
        expected = _json_items(data)
        assert expected is not None and len(items) == len(expected)  # nothing dropped
        unknown = sum(1 for it in items if it["task"] not in utils.TASKS)
        if unknown:  # items no subtask evaluates are counted in a warning
            assert any(f"{unknown} items have a 'task' outside" in m for m in logs.messages())
        with env(
            EMOREALM_JSON=str(path),
            DFEW_ROOT=str(root),
            DFEW_AUDIO_ROOT=None,
            LMMS_EVAL_MEDIA_ROOT=None,
            AVEM_ALLOW_MISSING_MEDIA="1",
            AVEM_ANSWER_PARSER=None,
        ):
            utils._clips_by_id.cache_clear()  # a new DFEW_ROOT: walked once for the five tasks
            for task in utils.TASKS:
                built = outcome(
                    lambda task=task: utils.build_docs(task),
                    taskdata.TaskDataError,
                    "DFEW_ROOT",
                    file_level=(r"no item has its media",),
                )
                n = sum(1 for it in items if it["task"] == task)
                if built.ok:
                    docs = built.value
                    missing = docs[0]["missing_media_count"] if docs else 0
                    assert len(docs) + missing == n, (task, len(docs), missing, n)
                else:  # every item of the task lacks its clip: the message counts them
                    assert f"{n} of {n} items have missing media" in str(built.error)


@given(data=questions_files())
@DEFAULT_TIER
def test_questions_file_reads_or_names_the_item(data: bytes) -> None:
    check_questions_file(data)


@pytest.mark.slow
@given(data=questions_files())
@SLOW_TIER
def test_questions_file_reads_or_names_the_item_10k(data: bytes) -> None:
    check_questions_file(data)
