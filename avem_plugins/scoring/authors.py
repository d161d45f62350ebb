"""``compat`` scoring through the AVERE authors' own functions, loaded from the user's checkout.

``AVEM_ANSWER_PARSER=compat`` asks for the authors' scorer. Their code is not part of this
package (nor copied into it): with ``AVEM_AVERE_REPO`` pointing at a checkout of
``github.com/ihp-lab/AVERE`` (the repository root, or its ``evaluate/`` folder), the
scoring function of each task family is loaded from that checkout when a task loads and
used as it is:

============  ================================================  ==========================
family        file (under the checkout)                         function
============  ================================================  ==========================
emorealm      ``evaluate/tasks/evaluate_emorealm.py``           ``matches_correct_answer``
dfew          ``evaluate/tasks/evaluate_emotion_dfew.py``       ``description2emotion``
ravdess       ``evaluate/tasks/evaluate_emotion_ravdess_video.py``  ``description2emotion``
mer2023       ``evaluate/tasks/evaluate_emotion_mer2023_test3.py``  ``description2emotion``
============  ================================================  ==========================

Each file is executed by path under a private module name (never added to
``sys.modules``); its sibling imports ``utils`` and ``eval_constants`` are served from the
same checkout's ``evaluate/`` folder for the duration of the load only, and every
``sys.modules`` entry touched is restored afterwards. A checkout lacking a file or a
function, or one whose module fails to import or whose function fails on a probe input,
is a one-line :class:`AuthorsScorerError` naming the file and the function, raised when
the task loads (before any generation).

The scorer that ran is recorded in every results file as ``answer_parser``:
``robust``, ``compat-reconstruction`` (no ``AVEM_AVERE_REPO``: our reconstruction,
:mod:`avem_plugins.scoring.answers` / :mod:`avem_plugins.scoring.emotions`, with
:data:`RECONSTRUCTION_NOTICE` in the log and in the results' ``answer_parser_note``) or
``compat-authors@<commit>`` (``compat-authors@<path>#sha256:<file hash>`` for a checkout
without ``.git``).

Standard library only; nothing happens at import.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avem_plugins.scoring.taskdata import TaskDataError

logger = logging.getLogger(__name__)

#: The checkout of the authors' repository (``github.com/ihp-lab/AVERE``).
AVERE_REPO_ENV = "AVEM_AVERE_REPO"
#: The commit this package was checked against; another one only warns.
VERIFIED_COMMIT = "82c1c8d"
#: What the log and every results file say when compat runs without the authors' code.
RECONSTRUCTION_NOTICE = (
    "compat: reconstruction, known to differ from the authors' scorer on rare words; "
    "set AVEM_AVERE_REPO for the exact scorer"
)
RECONSTRUCTION_LABEL = "compat-reconstruction"

#: family -> (file under the checkout, function name, what it scores).
SCORERS: dict[str, tuple[str, str, str]] = {
    "emorealm": (
        "evaluate/tasks/evaluate_emorealm.py",
        "matches_correct_answer",
        "the EmoReAlM compat scorer",
    ),
    "dfew": (
        "evaluate/tasks/evaluate_emotion_dfew.py",
        "description2emotion",
        "the DFEW compat scorer",
    ),
    "ravdess": (
        "evaluate/tasks/evaluate_emotion_ravdess_video.py",
        "description2emotion",
        "the RAVDESS compat scorer",
    ),
    "mer2023": (
        "evaluate/tasks/evaluate_emotion_mer2023_test3.py",
        "description2emotion",
        "the MER2023 compat scorer",
    ),
}
#: The sibling modules the authors' task files import by top-level name.
_SIBLINGS: tuple[str, ...] = ("utils", "eval_constants")
#: Third-party modules their files import at top level but the scorers never call.
_OPTIONAL_DEPS: tuple[str, ...] = ("numpy", "pandas", "sklearn", "sklearn.metrics", "tqdm")
_SHA = re.compile(r"^[0-9a-f]{40}$")


class AuthorsScorerError(TaskDataError):
    """The authors' scorer could not be loaded or run; one line naming the file and function."""


@dataclass(frozen=True)
class CompatScorer:
    """The compat scorer of one task family.

    ``fn`` is the authors' function (``None``: our reconstruction is used); ``label`` is
    what results record as ``answer_parser``; ``file``/``function`` name it in errors.
    """

    family: str
    label: str
    fn: Callable[..., Any] | None = None
    file: str | None = None
    function: str = ""

    @property
    def note(self) -> str:
        """:data:`RECONSTRUCTION_NOTICE` for the reconstruction, else ``""``."""
        return RECONSTRUCTION_NOTICE if self.fn is None else ""

    def where(self) -> str:
        return f"{self.file}:{self.function}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _resolve_file(root: Path, relative: str) -> Path | None:
    """``relative`` under the repository root, or under its ``evaluate/`` folder itself."""
    for candidate in (root / relative, root / relative.removeprefix("evaluate/")):
        if candidate.is_file():
            return candidate
    return None


def _read_ref(git_dir: Path, ref: str) -> str | None:
    loose = git_dir / ref
    if loose.is_file():
        value = loose.read_text(encoding="utf-8", errors="replace").strip()
        return value if _SHA.match(value) else None
    packed = git_dir / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.strip().split()
            if len(parts) == 2 and parts[1] == ref and _SHA.match(parts[0]):
                return parts[0]
    return None


def _git_dir(start: Path) -> Path | None:
    for folder in (start, *list(start.parents)[:2]):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():  # a worktree or submodule: "gitdir: PATH"
            text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text.partition(":")[2].strip())
                return target if target.is_absolute() else (folder / target).resolve()
    return None


def checkout_commit(root: str | Path) -> str | None:
    """The commit (full sha) checked out at ``root`` (or up to 2 folders above), read from
    ``.git`` without running git; ``None`` when there is no readable ``.git``."""
    git_dir = _git_dir(Path(os.path.expanduser(root)).resolve())
    if git_dir is None:
        return None
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if _SHA.match(head):
        return head
    if not head.startswith("ref:"):
        return None
    ref = head.partition(":")[2].strip()
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():  # a worktree keeps its branches in the main repository
        common = (git_dir / commondir.read_text(encoding="utf-8").strip()).resolve()
    return _read_ref(git_dir, ref) or _read_ref(common, ref)


class _Placeholder(types.ModuleType):
    """A stand-in for a module the authors' files import but the scorers never use."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"{self.__name__}.{name} is not available to the compat scorer")

        return unavailable


def _exec_file(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot make a module of {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_module(path: Path, family: str) -> types.ModuleType:
    """Execute the authors' file with its sibling modules served from its own checkout."""
    evaluate_dir = path.parent.parent
    # only the names served here are restored: real packages their file imports stay loaded
    placeholders = [
        dep
        for dep in _OPTIONAL_DEPS
        if dep not in sys.modules and importlib.util.find_spec(dep.partition(".")[0]) is None
    ]
    saved = {name: sys.modules.get(name) for name in (*_SIBLINGS, *placeholders)}
    try:
        for dep in placeholders:
            sys.modules[dep] = _Placeholder(dep)
        for sibling in _SIBLINGS:
            file = evaluate_dir / f"{sibling}.py"
            sys.modules[sibling] = (
                _exec_file(file, sibling) if file.is_file() else _Placeholder(sibling)
            )
        return _exec_file(path, f"_avem_authors_{family}")
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _probe(family: str, fn: Callable[..., Any]) -> None:
    if family == "emorealm":
        got = fn("(b)", "B")
        if not isinstance(got, bool | int):
            raise TypeError(f"returned {type(got).__name__} for ('(b)', 'B'), not a bool")
        fn("", "A")
    else:
        got = fn("happiness")
        if not isinstance(got, str):
            raise TypeError(f"returned {type(got).__name__} for 'happiness', not a label name")


def _label(root: Path, file: Path) -> str:
    commit = checkout_commit(root)
    if commit:
        if not commit.startswith(VERIFIED_COMMIT):
            logger.warning(
                "%s=%s is at commit %s; avem_plugins was checked against the authors' "
                "commit %s (their scorer may have changed since)",
                AVERE_REPO_ENV, root, commit[:12], VERIFIED_COMMIT,
            )  # fmt: skip
        return f"compat-authors@{commit[:12]}"
    digest = hashlib.sha256(file.read_bytes()).hexdigest()[:12]
    return f"compat-authors@{root}#sha256:{digest}"


@functools.lru_cache(maxsize=32)
def _authors_scorer(family: str, repo: str) -> CompatScorer:
    relative, function, purpose = SCORERS[family]
    root = Path(os.path.expanduser(repo)).resolve()
    prefix = f"{AVERE_REPO_ENV}={repo}"
    if not root.is_dir():
        raise AuthorsScorerError(
            f"{prefix} is not a folder; point it at a checkout of github.com/ihp-lab/AVERE "
            f"(needed for {relative}:{function}, {purpose})"
        )
    path = _resolve_file(root, relative)
    if path is None:
        raise AuthorsScorerError(
            f"{prefix}: {relative} not found (needed for {function}, {purpose}); point it at "
            "a checkout of github.com/ihp-lab/AVERE"
        )
    try:
        module = _load_module(path, family)
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # SystemExit too: their file must not end the run
        raise AuthorsScorerError(
            _one_line(f"{prefix}: cannot load {path} (for {function}): {type(err).__name__}: {err}")
        ) from None
    fn = getattr(module, function, None)
    if not callable(fn):
        raise AuthorsScorerError(f"{prefix}: {path} has no function {function} ({purpose})")
    try:
        _probe(family, fn)
    except KeyboardInterrupt:
        raise
    except BaseException as err:
        raise AuthorsScorerError(
            _one_line(
                f"{prefix}: {path}:{function} failed on a probe input: {type(err).__name__}: {err}"
            )
        ) from None
    scorer = CompatScorer(family, _label(root, path), fn, str(path), function)
    logger.info("compat scoring of %s uses %s (%s)", family, scorer.where(), scorer.label)
    return scorer


@functools.lru_cache(maxsize=1)
def _warn_reconstruction() -> None:
    logger.warning(RECONSTRUCTION_NOTICE)


def compat_scorer(family: str) -> CompatScorer:
    """The compat scorer of ``family`` (``emorealm``, ``dfew``, ``ravdess``, ``mer2023``).

    With ``AVEM_AVERE_REPO`` set: the authors' function from that checkout (loaded once
    per process and path). Without it: our reconstruction, and :data:`RECONSTRUCTION_NOTICE`
    is logged (once per process).

    :raises AuthorsScorerError: the checkout lacks the file or function, or it fails.
    """
    if family not in SCORERS:
        raise ValueError(f"unknown scorer family {family!r}; expected one of {sorted(SCORERS)}")
    repo = os.environ.get(AVERE_REPO_ENV, "").strip()
    if repo:
        return _authors_scorer(family, repo)
    _warn_reconstruction()
    _, function, _ = SCORERS[family]
    return CompatScorer(family, RECONSTRUCTION_LABEL, None, None, function)


def checked_parser(family: str) -> str:
    """``AVEM_ANSWER_PARSER`` for a task of ``family``; under ``compat`` the scorer is loaded
    now, so a broken ``AVEM_AVERE_REPO`` fails when the task loads, before any generation."""
    from avem_plugins.scoring.taskdata import answer_parser

    parser = answer_parser()
    if parser == "compat":
        compat_scorer(family)
    return parser
