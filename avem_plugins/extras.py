"""Which hosts and extras are installed, and the one-line advice when one is missing.

avem-plugins has a lean core (the CLI, preference files, media, synthetic clips) and one
extra per host, so an install brings only what the user's setup lacks:

- ``lmms-eval``: the evaluation tasks and the ``avem_av`` model (lmms-eval, transformers, ...)
- ``trl``: ``avem dpo`` / ``trl dpo --recipe`` (TRL, peft, transformers, ...)
- ``lm-eval``: the audio-only task under lm-eval
- ``report``: the plots of ``avem report`` / ``avem demo`` (matplotlib)
- ``all``: every one of them.

A command that needs a missing part calls :func:`require` before doing any work; it raises
:class:`MissingExtraError` with one line naming the extra to install. The transformers
requirement (:data:`TRANSFORMERS_SPEC`; 5.23 is the first release our models run on) is not
in the core on purpose: installing avem-plugins into a transformers 4.x setup changes
nothing, and what needs transformers says so in one line (:func:`require_transformers`).

A base module: the standard library and ``packaging`` only. Presence is looked up with
:func:`importlib.util.find_spec` and versions with :mod:`importlib.metadata`; no host is
ever imported here.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib import metadata

DIST = "avem-plugins"
#: The transformers releases avem-plugins runs on (first good floor: 5.23; see CONTRIBUTING.md).
TRANSFORMERS_FLOOR = "5.23"
TRANSFORMERS_SPEC = f">={TRANSFORMERS_FLOOR},<6"


@dataclass(frozen=True)
class Extra:
    """One optional part: ``pip install 'avem-plugins[NAME]'`` brings ``modules``."""

    name: str
    modules: tuple[str, ...]
    purpose: str


#: The extras, in report order (``all`` is their union).
EXTRAS: dict[str, Extra] = {
    e.name: e
    for e in (
        Extra("lmms-eval", ("lmms_eval",), "lmms-eval tasks and the avem_av model"),
        Extra("trl", ("trl", "peft"), "training: avem dpo / trl dpo --recipe"),
        Extra("lm-eval", ("lm_eval",), "the audio-only task under lm-eval"),
        Extra("report", ("matplotlib",), "plots of avem report / avem demo"),
    )
}


class MissingExtraError(ImportError):
    """A command needs an extra (a host or matplotlib) that is not installed."""


class RequirementError(ImportError):
    """An installed dependency is outside the range avem-plugins runs on (one-line message)."""


def module_present(module: str) -> bool:
    """Whether top-level ``module`` can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that are not installed."""
    return [m for m in EXTRAS[extra].modules if not module_present(m)]


def present(extra: str) -> bool:
    """Whether everything ``extra`` provides is installed."""
    return not missing_modules(extra)


def install_command(extras: list[str] | tuple[str, ...]) -> str:
    """``pip install 'avem-plugins[a,b]'`` (the installed distribution gains the extras)."""
    return f"pip install '{DIST}[{','.join(extras)}]'"


def transformers_version() -> str | None:
    """The installed transformers version, or ``None``."""
    try:
        return metadata.version("transformers")
    except metadata.PackageNotFoundError:
        return None


def transformers_problem() -> str | None:
    """Why the installed transformers does not do (``None``: it does)."""
    from packaging.specifiers import SpecifierSet

    version = transformers_version()
    if version is None:
        return f"transformers{TRANSFORMERS_SPEC} is not installed"
    if not SpecifierSet(TRANSFORMERS_SPEC).contains(version, prereleases=True):
        return f"transformers {version} is installed, avem-plugins needs transformers{TRANSFORMERS_SPEC}"
    return None


def require_transformers(what: str) -> None:
    """Raise :class:`RequirementError` (one line) unless transformers is in range."""
    problem = transformers_problem()
    if problem is None:
        return
    version = transformers_version()
    if version is not None and version.split(".")[0] == "4":
        advice = (
            f"pip install 'transformers{TRANSFORMERS_SPEC}' is a major upgrade (other models of "
            "your setup may need 4.x; README: Install)"
        )
    else:
        advice = f"pip install 'transformers{TRANSFORMERS_SPEC}'"
    raise RequirementError(f"{what}: {problem}; {advice}")


def require(command: str, *extras: str, transformers: bool = False) -> None:
    """Raise (one line) unless ``extras`` are installed and, if asked, transformers is in range.

    :raises MissingExtraError: naming the command, what is missing and the install command.
    :raises RequirementError: the installed transformers is outside :data:`TRANSFORMERS_SPEC`.
    """
    lacking = [e for e in extras if not present(e)]
    if lacking:
        modules = [m for e in lacking for m in missing_modules(e)]
        raise MissingExtraError(
            f"{command} needs {', '.join(modules)} (not installed): {install_command(lacking)}"
        )
    if transformers:
        if transformers_version() is None:
            raise MissingExtraError(
                f"{command} needs transformers{TRANSFORMERS_SPEC} and torch (not installed): "
                f"{install_command(['trl'])} or {install_command(['lmms-eval'])}"
            )
        require_transformers(command)


def status() -> dict[str, list[str]]:
    """``extra -> missing modules`` for every extra (an empty list: present)."""
    return {name: missing_modules(name) for name in EXTRAS}
