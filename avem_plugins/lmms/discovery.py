"""Zero-flag task discovery for lmms-eval 0.7.3.

lmms-eval has no task entry point, but it imports the ``lmms_eval.models`` entry points
(ours: :func:`avem_plugins.lmms.entrypoint.manifests`) before its CLI builds the
``TaskManager``. :func:`install` uses that moment to wrap
``TaskManager.initialize_tasks`` so the task index also covers every folder registered
through the ``avem_register_task_dirs`` hook (ours and third parties'), as if passed
with ``--include_path``:

- lmms-eval's own tasks and the user's ``--include_path`` folders come first, so a
  built-in task with one of our names wins; a warning names each shadowed task.
- ``include_defaults=False`` (lmms-eval's "only my folders" mode) adds nothing.
- YAMLs in an ``lm_eval/`` sub-folder of a registered folder are lm-eval tasks, not
  lmms-eval ones, and are left out of lmms-eval's index.
- Idempotent: wrapping twice, or a folder already in ``include_path``, changes nothing.
- ``AVEM_LMMS_TASK_DISCOVERY=0`` turns it off.

Importing ``lmms_eval.tasks`` costs seconds, so when it is not imported yet :func:`install`
only leaves an import hook that wraps the class the moment lmms-eval imports it.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from avem_plugins.importhook import ImportPatch

log = logging.getLogger(__name__)

DISABLE_ENV = "AVEM_LMMS_TASK_DISCOVERY"
TASKS_MODULE = "lmms_eval.tasks"
#: Sub-folder holding lm-eval (not lmms-eval) task YAMLs.
LM_EVAL_SUBDIR = "lm_eval"
_WRAPPED_MARK = "__avem_wrapped__"
_lock = threading.Lock()


def enabled() -> bool:
    """Whether discovery is on (``AVEM_LMMS_TASK_DISCOVERY`` not ``0``/``false``/``off``)."""
    return os.environ.get(DISABLE_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def task_dirs() -> list[Path]:
    """Folders registered through ``avem_register_task_dirs`` (:func:`avem_plugins.registry.task_dirs`).

    If the plugins cannot be loaded or one registers a bad folder, our own folder is still
    returned, with a warning, so the shipped tasks stay reachable.
    """
    from avem_plugins import registry

    try:
        return registry.task_dirs()
    except Exception as err:
        log.warning(
            "avem: plugins failed to load (%s: %s); only the built-in task folder is indexed",
            type(err).__name__,
            err,
        )
        return [registry.builtin_task_dir()]


def _as_list(include_path: str | os.PathLike[str] | Iterable[Any] | None) -> list[Any]:
    if include_path is None:
        return []
    if isinstance(include_path, (str, os.PathLike)):
        return [include_path]
    return list(include_path)


def _under(path: Any, folder: Path) -> bool:
    if not isinstance(path, (str, os.PathLike)):
        return False  # groups configured inline have yaml_path -1
    try:
        Path(path).resolve().relative_to(folder)
    except ValueError:
        return False
    return True


def shadowed(
    index: dict[str, dict[str, Any]], ours: dict[str, dict[str, Any]], folder: Path
) -> list[str]:
    """Names defined in ``folder`` (``ours``) that ``index`` resolves to another file."""
    out = []
    for name, entry in ours.items():
        if not _under(entry.get("yaml_path"), folder):
            continue  # a tag: no file of its own
        winner = index.get(name, {}).get("yaml_path")
        if winner is not None and not _under(winner, folder):
            out.append(name)
    return sorted(out)


def wrap_initialize_tasks(manager_cls: Any) -> bool:
    """Wrap ``manager_cls.initialize_tasks`` once; ``False`` if it already was."""
    with _lock:
        original = manager_cls.initialize_tasks
        if getattr(original, _WRAPPED_MARK, False):
            return False

        @functools.wraps(original)
        def initialize_tasks(
            self: Any, include_path: Any = None, include_defaults: bool = True
        ) -> Any:
            if not (include_defaults and enabled()):
                return original(self, include_path=include_path, include_defaults=include_defaults)
            try:
                given = _as_list(include_path)
                given_resolved = {
                    Path(os.path.expanduser(p)).resolve()
                    for p in given
                    if isinstance(p, (str, os.PathLike))
                }
                ours = [d for d in task_dirs() if d not in given_resolved]
            except Exception as err:  # never break lmms-eval because of a plugin
                log.warning("avem: task discovery skipped: %s: %s", type(err).__name__, err)
                return original(self, include_path=include_path, include_defaults=include_defaults)
            paths = given + [str(d) for d in ours]
            index = original(self, include_path=paths or None, include_defaults=include_defaults)
            try:
                _tidy(self, index, ours)
            except Exception as err:
                log.warning("avem: task discovery check skipped: %s: %s", type(err).__name__, err)
            return index

        setattr(initialize_tasks, _WRAPPED_MARK, True)
        manager_cls.initialize_tasks = initialize_tasks
        return True


def _tidy(manager: Any, index: dict[str, dict[str, Any]], ours: list[Path]) -> None:
    """Drop lm-eval YAMLs from the index and warn about shadowed names."""
    for folder in ours:
        lm_eval_dir = folder / LM_EVAL_SUBDIR
        for name in [n for n, e in index.items() if _under(e.get("yaml_path"), lm_eval_dir)]:
            del index[name]
        names = shadowed(index, manager._get_task_and_group(str(folder)), folder)
        for name in names:
            if _under(index[name].get("yaml_path"), lm_eval_dir):
                continue
            message = (
                f"avem: the task '{name}' from {folder} is shadowed by '{index[name]['yaml_path']}' "
                "(built-in and --include_path tasks win); ours is not reachable under this name."
            )
            getattr(manager, "logger", log).warning(message)


def _wrap_failed(err: BaseException) -> None:
    log.warning("avem: could not hook lmms-eval's TaskManager: %s", err)


_PATCH = ImportPatch(TASKS_MODULE, "TaskManager", wrap_initialize_tasks, _wrap_failed)


def install() -> str:
    """Make lmms-eval's task index include our folders. Never raises.

    :returns: ``"wrapped"`` (done now), ``"deferred"`` (done when lmms-eval imports its
        tasks module), ``"disabled"`` or ``"failed: ..."``.
    """
    if not enabled():
        return "disabled"
    return _PATCH.install()
