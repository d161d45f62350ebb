"""Run a callback right after a module is imported, without importing it first.

Both host interceptions use this: task discovery wraps lmms-eval's ``TaskManager`` once
``lmms_eval.tasks`` loads (:mod:`avem_plugins.lmms.discovery`), and ``trl dpo --recipe``
wraps ``trl.cli.main.main`` once TRL's CLI loads (:mod:`avem_plugins.launch.trl_hook`).
Importing those modules ourselves would cost seconds (and, for TRL, happen too early), so
:func:`after_import` puts a one-shot finder at the front of ``sys.meta_path``: it lets the
normal finders locate the module, wraps the loader so ``callback(module)`` runs after the
module's code, and removes itself. A failing callback goes to ``on_error`` and never breaks
the import. Nothing heavy is imported here (it runs from a ``.pth`` file at start-up).
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

_lock = threading.Lock()


class AfterImport(importlib.abc.MetaPathFinder):
    """One-shot finder calling ``callback(module)`` once ``target`` has been executed."""

    def __init__(
        self,
        target: str,
        callback: Callable[[ModuleType], Any],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self.target, self.callback, self.on_error = target, callback, on_error

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.target:
            return None
        self.remove()
        try:
            for finder in list(sys.meta_path):
                find_spec = getattr(finder, "find_spec", None)
                if find_spec is None:
                    continue
                spec = find_spec(fullname, path, target)
                if spec is None:
                    continue
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _CallbackLoader(spec.loader, self)
                return spec
        except Exception as exc:
            self.on_error(exc)
        return None

    def remove(self) -> None:
        """Take this finder off ``sys.meta_path`` (idempotent)."""
        with _lock:
            if self in sys.meta_path:
                sys.meta_path.remove(self)

    @property
    def installed(self) -> bool:
        """Whether the finder is still waiting on ``sys.meta_path``."""
        return self in sys.meta_path


class _CallbackLoader(importlib.abc.Loader):
    """Delegates to the real loader, then calls the callback on the executed module."""

    def __init__(self, inner: Any, hook: AfterImport) -> None:
        self._inner, self._hook = inner, hook

    def create_module(self, spec: Any) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        try:
            self._hook.callback(module)
        except Exception as exc:
            self._hook.on_error(exc)

    def __getattr__(self, name: str) -> Any:  # get_code, get_source, ... of the real loader
        return getattr(self._inner, name)


def after_import(
    target: str,
    callback: Callable[[ModuleType], Any],
    on_error: Callable[[BaseException], None],
) -> AfterImport | None:
    """Call ``callback(module)`` once ``target`` is imported; now if it already is.

    Returns the waiting finder, or ``None`` when the callback ran at once. Errors of the
    callback go to ``on_error``; this function itself never raises for them.
    """
    module = sys.modules.get(target)
    if module is not None:
        try:
            callback(module)
        except Exception as exc:
            on_error(exc)
        return None
    finder = AfterImport(target, callback, on_error)
    with _lock:
        sys.meta_path.insert(0, finder)
    return finder


class ImportPatch:
    """Patch a module's class now if it is imported, else right after it is (never raises).

    ``patch(cls)`` is applied to ``getattr(module, attribute)``; :meth:`install` returns
    ``"wrapped"`` (done now), ``"deferred"`` (a one-shot finder waits), or ``"failed: ..."``.
    Installing again while the finder waits adds no second one.
    """

    def __init__(
        self,
        target: str,
        attribute: str,
        patch: Callable[[Any], Any],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self.target, self.attribute, self.patch, self.on_error = target, attribute, patch, on_error
        self.hook: AfterImport | None = None

    def _apply(self, module: ModuleType) -> None:
        self.patch(getattr(module, self.attribute))

    def install(self) -> str:
        try:
            module = sys.modules.get(self.target)
            if module is not None and hasattr(module, self.attribute):
                self._apply(module)
                return "wrapped"
            if self.hook is None or not self.hook.installed:
                self.hook = after_import(self.target, self._apply, self.on_error)
            return "deferred"
        except Exception as err:
            return f"failed: {type(err).__name__}: {err}"
