"""``avem doctor``: is this environment able to run the plugins? One check per line.

Each :class:`Check` says what was looked at, what was found and what to do. Required checks
that fail make ``avem doctor`` exit non-zero; the media roots are informational (a missing
licensed dataset is not a broken install), and so is a missing extra (a host or matplotlib
that this setup does not use: :mod:`avem_plugins.extras`). A package that is installed but
outside our range (transformers 4.x, filelock 4) is a failure.
"""

from __future__ import annotations

import os
import site
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from avem_plugins import extras

#: Distributions whose versions are reported, checked against our own requirements.
PACKAGES: tuple[str, ...] = (
    "torch",
    "torchvision",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "lmms-eval",
    "datasets",
    "filelock",
)
#: Media-root environment variables read by the evaluation tasks (SPEC §4.4).
MEDIA_ENV_VARS: tuple[str, ...] = (
    "EMOREALM_JSON",
    "DFEW_ROOT",
    "DFEW_AUDIO_ROOT",
    "DFEW_ANNOTATIONS",
    "RAVDESS_ROOT",
    "RAVDESS_AUDIO_ROOT",
    "EMER_ROOT",
    "MER2023_ROOT",
    "MER2023_LABELS",
    "MER2023_AUDIO_ROOT",
    "LMMS_EVAL_MEDIA_ROOT",
    "AVEM_AVERE_REPO",  # the authors' checkout for AVEM_ANSWER_PARSER=compat
)
#: Extra advice for a package whose version does not satisfy our requirement.
_ADVICE: dict[str, str] = {
    "filelock": "filelock>=4 breaks every lmms-eval 0.7.3 evaluation (filelock._api): "
    "pip install 'filelock<4'",
    "torch": "install torch and torchvision as a matching pair (e.g. torch==2.14.1 torchvision==0.29.1)",
    "torchvision": "install torch and torchvision as a matching pair "
    "(e.g. torch==2.14.1 torchvision==0.29.1)",
    "transformers": f"avem-plugins needs transformers{extras.TRANSFORMERS_SPEC} (5.23 is the first "
    "release its models run on); from 4.x that is a major upgrade: see README, Install",
}
DIST = "avem-plugins"


@dataclass(frozen=True)
class Check:
    """One line of the report. ``status``: ``ok``, ``warn``, ``fail`` or ``info``."""

    name: str
    status: str
    detail: str
    required: bool = True

    @property
    def broken(self) -> bool:
        """A required check that failed."""
        return self.required and self.status == "fail"


def _requirements(*, extras_too: bool = False) -> dict[str, str]:
    """Our own declared requirement specifier per distribution name.

    The core's only, or with ``extras_too`` also those of the host extras (``lmms-eval``,
    ``trl``, ``lm-eval``, ``report``; the same package has the same range in each).
    """
    from packaging.requirements import Requirement

    out: dict[str, str] = {}
    try:
        reqs = metadata.requires(DIST) or []
    except metadata.PackageNotFoundError:
        return out
    for line in reqs:
        req = Requirement(line)
        if req.marker is None:
            out[_norm(req.name)] = str(req.specifier)
        elif extras_too and any(req.marker.evaluate({"extra": name}) for name in extras.EXTRAS):
            out.setdefault(_norm(req.name), str(req.specifier))
    return out


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def check_extras() -> list[Check]:
    """One line per extra: present, or missing with the command that installs it."""
    checks = []
    for name, extra in extras.EXTRAS.items():
        missing = extras.missing_modules(name)
        if not missing:
            checks.append(Check(f"[{name}]", "ok", f"present: {extra.purpose}", False))
        else:
            checks.append(
                Check(
                    f"[{name}]",
                    "info",
                    f"missing {', '.join(missing)}: {extras.install_command([name])} "
                    f"for {extra.purpose}",
                    False,
                )
            )
    return checks


def check_versions(packages: Iterable[str] = PACKAGES) -> list[Check]:
    """Installed version of each package against the range ``avem-plugins`` declares.

    A core requirement that is not installed fails; a package that only an extra brings is
    reported as not installed (informational: see :func:`check_extras`).
    """
    from packaging.specifiers import SpecifierSet

    core = _requirements()
    wanted = {**_requirements(extras_too=True), **core}
    checks = []
    for name in packages:
        spec = wanted.get(_norm(name), "")
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            if _norm(name) in core or not wanted:
                checks.append(Check(name, "fail", f"not installed (needs {spec or 'any version'})"))
            else:
                checks.append(
                    Check(name, "info", f"not installed (needs {spec} where used)", False)
                )
            continue
        need = f" (needs {spec})" if spec else ""
        if spec and not SpecifierSet(spec).contains(version, prereleases=True):
            advice = _ADVICE.get(name, f"pip install '{name}{spec}'")
            checks.append(Check(name, "fail", f"{version}{need}: {advice}"))
        else:
            checks.append(Check(name, "ok", f"{version}{need}"))
    return checks


def check_torch_pair() -> Check:
    """Whether torch and torchvision import together and torchvision's C++ ops load."""
    name = "torch/torchvision pair"
    if not extras.module_present("torch"):
        return Check(
            name, "info", "torch not installed (the lmms-eval and trl extras bring it)", False
        )
    try:
        import torch
        import torchvision

        torchvision.ops.nms(torch.zeros((1, 4)), torch.zeros(1), 0.5)
    except Exception as exc:
        return Check(name, "fail", f"{type(exc).__name__}: {exc}; {_ADVICE['torchvision']}")
    return Check(name, "ok", f"torch {torch.__version__} + torchvision {torchvision.__version__}")


def check_plugins() -> Check:
    """Whether the avem plugins (built-in and third-party) load."""
    try:
        from avem_plugins.registry import available_adapters

        names = sorted(available_adapters())
    except Exception as exc:
        return Check(
            "avem plugins",
            "fail",
            f"{type(exc).__name__}: {exc}; block a broken plugin with AVEM_BLOCK_PLUGINS=NAME",
        )
    return Check("avem plugins", "ok", f"model adapters: {', '.join(names) or 'none'}")


def check_recipes() -> Check:
    """Whether the recipe registry builds (names are unique across recipe folders)."""
    try:
        from avem_plugins.launch.recipe import available_recipes

        names = list(available_recipes())
    except Exception as exc:
        return Check("recipes", "fail", f"{type(exc).__name__}: {exc}")
    return Check("recipes", "ok", f"{len(names)} recipes (`avem recipes ls`)")


def check_lmms_eval_hook() -> Check:
    """Whether lmms-eval will find us: the ``lmms_eval.models`` entry point ``avem`` loads."""
    name = "lmms-eval hook"
    if not extras.module_present("lmms_eval"):
        return Check(
            name,
            "info",
            f"lmms-eval not installed ({extras.install_command(['lmms-eval'])})",
            False,
        )
    eps = [ep for ep in metadata.entry_points(group="lmms_eval.models") if ep.name == "avem"]
    if not eps:
        return Check(
            name,
            "fail",
            "entry point lmms_eval.models -> avem not installed: reinstall avem-plugins",
        )
    try:
        target = eps[0].load()
    except Exception as exc:
        return Check(name, "fail", f"{eps[0].value} fails to load: {type(exc).__name__}: {exc}")
    if not callable(target) and not isinstance(target, list | tuple):
        return Check(name, "fail", f"{eps[0].value} is neither a callable nor a list of manifests")
    return Check(name, "ok", f"active: lmms_eval.models -> avem = {eps[0].value}")


def site_dirs() -> list[Path]:
    """Folders whose ``.pth`` files Python processes at start-up in this interpreter."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [Path(d) for d in dict.fromkeys(dirs)]


def find_trl_hook_pth(dirs: Iterable[Path] | None = None) -> Path | None:
    """The installed ``avem_trl_hook.pth`` that calls our hook, if any."""
    from avem_plugins.launch.trl_hook import PTH_NAME

    for folder in site_dirs() if dirs is None else dirs:
        pth = Path(folder) / PTH_NAME
        if pth.is_file() and "avem_plugins.launch.trl_hook" in pth.read_text(errors="replace"):
            return pth
    return None


def check_trl_hook(dirs: Iterable[Path] | None = None) -> Check:
    """Whether ``trl dpo --recipe`` will be intercepted in this environment."""
    from avem_plugins.launch import trl_hook

    name = "trl --recipe hook"
    if not extras.module_present("trl"):
        return Check(name, "info", f"trl not installed ({extras.install_command(['trl'])})", False)
    pth = find_trl_hook_pth(dirs)
    if pth is None:
        return Check(
            name,
            "fail",
            f"{trl_hook.PTH_NAME} not found in {', '.join(map(str, site_dirs()))}: reinstall "
            "avem-plugins (`avem dpo --recipe ...` works without it)",
        )
    try:
        version = metadata.version("trl")
    except metadata.PackageNotFoundError:
        version = None
    if not trl_hook.supported(version):
        return Check(
            name,
            "fail",
            f"installed ({pth}) but trl {version} is not the {trl_hook.SUPPORTED_TRL}x series "
            "it supports; use `avem dpo --recipe ...`",
        )
    if trl_hook.disabled_by_env():
        return Check(
            name,
            "warn",
            f"installed ({pth}) but disabled by {trl_hook.ENV_VAR}="
            f"{os.environ.get(trl_hook.ENV_VAR)}",
            required=False,
        )
    return Check(name, "ok", f"active: {pth} (trl {version}; {trl_hook.ENV_VAR}=0 disables it)")


def check_media_roots(env: dict[str, str] | None = None) -> list[Check]:
    """Which media-root variables are set and whether their paths exist (informational)."""
    env = dict(os.environ) if env is None else env
    checks = []
    for var in MEDIA_ENV_VARS:
        value = env.get(var)
        if not value:
            checks.append(Check(var, "info", "not set", required=False))
        elif Path(value).exists():
            checks.append(Check(var, "ok", value, required=False))
        else:
            checks.append(Check(var, "warn", f"{value} does not exist", required=False))
    return checks


def run_checks(*, torch_pair: bool = True) -> list[Check]:
    """Every check, in report order."""
    checks: list[Check] = [
        Check("python", "info", sys.version.split()[0], required=False),
        *check_extras(),
        *check_versions(),
    ]
    if torch_pair:
        checks.append(check_torch_pair())
    steps: list[Callable[[], Check]] = [
        check_plugins,
        check_recipes,
        check_lmms_eval_hook,
        check_trl_hook,
    ]
    checks.extend(step() for step in steps)
    checks.extend(check_media_roots())
    return checks


def as_dicts(checks: Iterable[Check]) -> list[dict[str, object]]:
    """JSON-ready rows."""
    return [asdict(c) for c in checks]
