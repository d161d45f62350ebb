"""``trl dpo --recipe NAME``: a small, guarded interception of TRL's command line.

TRL's CLI has no extension point: ``trl dpo`` parses its flags, passes the unknown ones to
``accelerate launch`` and runs TRL's own ``scripts/dpo.py`` with a hard-coded trainer. So the
package installs a one-line ``avem_trl_hook.pth`` into site-packages (see ``setup.py``). At
interpreter start-up that line only looks at ``sys.argv`` (``argv[1] == "dpo"`` and
``--recipe`` present), so every other program pays a few microseconds. When it matches,
:func:`activate` checks the rest:

- the program is the ``trl`` console script and ``--recipe`` is among the arguments;
- ``AVEM_TRL_HOOK`` is not ``0`` (``false``/``no``/``off``): that value disables the hook.

Only then does it add an import hook that, once ``trl.cli.main`` is imported and if that
TRL is the series this was written against (:data:`SUPPORTED_TRL`), wraps its ``main`` so
that ``trl dpo --recipe ...`` runs :func:`avem_plugins.launch.launcher.launch` (the launcher behind
``avem dpo``, parsing with TRL's own ``TrlParser``). Any failure on the way prints one line
to stderr and leaves TRL exactly as it is. Without ``--recipe`` nothing is installed at all,
so ``trl dpo`` behaves exactly as TRL does.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from avem_plugins.importhook import AfterImport, after_import

#: Environment variable that disables the interception when set to 0/false/no/off.
ENV_VAR = "AVEM_TRL_HOOK"
#: The TRL release series whose CLI this interception was written and tested against.
SUPPORTED_TRL = "1.16."
#: Name of the ``.pth`` file installed into site-packages.
PTH_NAME = "avem_trl_hook.pth"
#: The module whose ``main`` is wrapped.
TARGET = "trl.cli.main"
_FLAG = "--recipe"


def _notice(message: str) -> None:
    print(f"avem: {message}", file=sys.stderr)


def disabled_by_env() -> bool:
    """Whether ``AVEM_TRL_HOOK`` turns the interception off."""
    return os.environ.get(ENV_VAR, "1").strip().lower() in {"0", "false", "no", "off"}


def _is_trl_program(argv0: str) -> bool:
    name = argv0.replace("\\", "/").rsplit("/", 1)[-1].lower()  # POSIX and Windows paths
    for suffix in (".exe", "-script.pyw", "-script.py"):
        name = name.removesuffix(suffix)
    return name == "trl"


def wants_recipe(argv: Sequence[str]) -> bool:
    """Whether ``argv`` (a full ``sys.argv``) is ``trl dpo ... --recipe ...``."""
    return (
        len(argv) > 2
        and _is_trl_program(argv[0])
        and argv[1] == "dpo"
        and any(a == _FLAG or a.startswith(_FLAG + "=") for a in argv[2:])
    )


def trl_version() -> str | None:
    """The version of the TRL being imported (read when ``trl.cli.main`` loads).

    Not read at start-up: ``sys.path`` may not be complete while ``.pth`` files run.
    """
    trl = sys.modules.get("trl")
    if trl is not None and isinstance(getattr(trl, "__version__", None), str):
        return trl.__version__
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trl")
    except PackageNotFoundError:
        return None


def supported(version: str | None) -> bool:
    """Whether this TRL version's CLI is the one the interception was written against."""
    return version is not None and version.startswith(SUPPORTED_TRL)


def installed() -> bool:
    """Whether the import hook is on ``sys.meta_path`` in this process."""
    return any(isinstance(f, AfterImport) and f.target == TARGET for f in sys.meta_path)


def _failed(exc: BaseException) -> None:
    _notice(f"--recipe hook not installed ({exc!r}); running TRL unchanged")


def activate(argv: Sequence[str] | None = None) -> bool:
    """Install the import hook if this process is ``trl dpo --recipe``; never raises.

    Returns whether the hook is installed (or ``main`` already wrapped). Called by
    ``avem_trl_hook.pth`` at start-up (possibly twice: some venvs list site-packages under
    both ``lib`` and ``lib64``).
    """
    try:
        argv = sys.argv if argv is None else argv
        if disabled_by_env() or not wants_recipe(argv):
            return False
        if installed():
            return True
        if TARGET in sys.modules:  # too late to wrap at import: wrap the loaded module now
            return _wrap(sys.modules[TARGET])
        after_import(TARGET, _wrap, _failed)
        return True
    except Exception as exc:  # never break Python start-up or TRL
        _failed(exc)
        return False


def _wrap(module: ModuleType) -> bool:
    """Wrap ``module.main`` when TRL's version is supported; return whether it is wrapped."""
    original = module.main
    if getattr(original, "__avem_recipe_hook__", False):
        return True
    version = trl_version()
    if not supported(version):
        _notice(
            f"trl {version} is not the {SUPPORTED_TRL}x series the --recipe hook supports; "
            "running TRL unchanged (use `avem dpo --recipe ...` instead)"
        )
        return False

    @functools.wraps(original)
    def main(argv: list[str] | None = None) -> int:
        args = list(sys.argv[1:] if argv is None else argv)
        if not (args[:1] == ["dpo"] and any(a == _FLAG or a.startswith(_FLAG + "=") for a in args)):
            return original(argv)
        try:
            from avem_plugins.launch.launcher import launch
        except Exception as exc:
            _notice(f"--recipe hook failed to load ({exc!r}); running TRL unchanged")
            return original(argv)
        return launch(args[1:], prog="trl dpo")

    main.__avem_recipe_hook__ = True  # type: ignore[attr-defined]
    module.main = main  # type: ignore[attr-defined]
    return True
