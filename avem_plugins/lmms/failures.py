"""Our task-loading errors: no retries, and a failing exit status from the lmms-eval CLI.

lmms-eval 0.7.3 loads each task's data in ``ConfigurableTask.download``, decorated with
tenacity's ``@retry`` (5 attempts, 2 s apart, on any exception), and its CLI
(``lmms_eval.__main__.cli_evaluate``) catches every exception of a run, prints the traceback
and ends with status 0. So a missing ``EMOREALM_JSON`` arrived after ~10 s of retries and a
script could not tell the run failed.

:func:`install` (called by our ``lmms_eval.models`` entry point, like task discovery) wraps
``ConfigurableTask.download`` once lmms-eval imports it. The wrapper

1. calls the original through tenacity's own ``retry_with``, with the same stop and wait but
   a retry condition that is false for *our* errors (an exception whose class is defined in
   ``avem_plugins``, e.g. ``TaskDataError``, found through ``__cause__`` too): they are
   raised at the first attempt. Any other exception is retried exactly as before, and
   lmms-eval's decorator object is not modified;
2. when that error reaches it inside the lmms-eval CLI (``cli_evaluate_single`` is on the
   stack) prints one line, ``avem: TaskDataError: EMOREALM_JSON: ...``, and raises
   ``SystemExit(1)``, which the CLI's ``except Exception`` does not catch, so the process
   ends with status 1. With ``--verbosity DEBUG`` the original exception is re-raised
   instead (traceback; lmms-eval re-raises it too). Called from Python (``simple_evaluate``
   in a script or notebook), the original exception propagates unchanged.

Tasks other than ours see the same behaviour as without us: only exceptions of our own
classes are treated differently. ``AVEM_LMMS_FAILFAST=0`` turns both off. It is idempotent
and never raises (a failure leaves lmms-eval unchanged, with a warning).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from types import FrameType
from typing import Any

from avem_plugins.importhook import ImportPatch

log = logging.getLogger(__name__)

DISABLE_ENV = "AVEM_LMMS_FAILFAST"
TASK_MODULE = "lmms_eval.api.task"
CLI_MODULE = "lmms_eval.__main__"
CLI_FUNCTION = "cli_evaluate_single"
#: The exit status of an lmms-eval CLI run that one of our errors stopped.
EXIT_STATUS = 1
_WRAPPED_MARK = "__avem_failfast__"
_lock = threading.Lock()


def enabled() -> bool:
    """Whether this is on (``AVEM_LMMS_FAILFAST`` not ``0``/``false``/``no``/``off``)."""
    return os.environ.get(DISABLE_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def ours(exc: BaseException | None) -> BaseException | None:
    """The exception of one of our classes in ``exc`` (itself, a tenacity ``RetryError``'s
    last attempt, or its ``__cause__`` chain), or ``None``."""
    seen = 0
    while exc is not None and seen < 8:
        seen += 1
        if type(exc).__module__.split(".")[0] == "avem_plugins":
            return exc
        last = getattr(exc, "last_attempt", None)  # tenacity.RetryError
        if last is not None and hasattr(last, "exception"):
            try:
                inner = last.exception()
            except Exception:
                inner = None
            if inner is not None:
                exc = inner
                continue
        exc = exc.__cause__
    return None


def in_lmms_eval_cli(frame: FrameType | None = None) -> bool:
    """Whether the lmms-eval CLI's ``cli_evaluate_single`` is on the current stack."""
    frame = sys._getframe(1) if frame is None else frame
    while frame is not None:
        if frame.f_code.co_name == CLI_FUNCTION and frame.f_globals.get("__name__") == CLI_MODULE:
            return True
        frame = frame.f_back
    return False


def exit_if_cli(exc: BaseException) -> None:
    """In the lmms-eval CLI: one line on stderr and ``SystemExit(1)`` for one of our errors.

    Returns (so the caller re-raises ``exc``) outside the CLI, for other exceptions, when
    disabled, or with ``--verbosity DEBUG``.
    """
    mine = ours(exc)
    if mine is None or not enabled() or not in_lmms_eval_cli():
        return
    if os.environ.get("VERBOSITY", "").upper() == "DEBUG":
        return
    print(f"avem: {type(mine).__name__}: {mine}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_STATUS) from exc


def _retry_unless_ours(inner: Any) -> Any:
    """A tenacity retry condition: ``inner``'s answer, but never for one of our errors."""

    def condition(retry_state: Any) -> bool:
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed and ours(outcome.exception()) is not None:
            return False
        return bool(inner(retry_state))

    return condition


def wrap_download(task_cls: Any) -> bool:
    """Wrap ``task_cls.download`` once; ``False`` if it already was."""
    with _lock:
        original = task_cls.__dict__.get("download")
        if original is None or getattr(original, _WRAPPED_MARK, False):
            return False
        retrying = getattr(original, "retry", None)
        retry_with = getattr(original, "retry_with", None)

        @functools.wraps(original)
        def download(self: Any, *args: Any, **kwargs: Any) -> Any:
            call = original
            if enabled() and retrying is not None and retry_with is not None:
                try:
                    call = retry_with(retry=_retry_unless_ours(retrying.retry))
                except Exception:  # another tenacity: keep lmms-eval's own
                    call = original
            try:
                return call(self, *args, **kwargs)
            except Exception as exc:
                exit_if_cli(exc)
                raise

        setattr(download, _WRAPPED_MARK, True)
        task_cls.download = download
        return True


def _wrap_failed(err: BaseException) -> None:
    log.warning("avem: could not hook lmms-eval's task loading: %s", err)


_PATCH = ImportPatch(TASK_MODULE, "ConfigurableTask", wrap_download, _wrap_failed)


def install() -> str:
    """Wrap ``ConfigurableTask.download`` now or when lmms-eval imports it. Never raises.

    :returns: ``"wrapped"``, ``"deferred"``, ``"disabled"`` or ``"failed: ..."``.
    """
    if not enabled():
        return "disabled"
    return _PATCH.install()
