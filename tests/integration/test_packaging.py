"""tasks/, recipes/ and plugins/ ship inside the package: built wheel and editable install.

Each case makes a fresh venv (no pip inside; this environment's pip installs into it with
``--python``), makes the already-installed pinned dependencies visible through a ``.pth``
path entry (so no network is needed), installs avem-plugins from a copy of the source tree
and inspects the result from the new interpreter.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.venv

ROOT = Path(__file__).resolve().parents[2]
MAPPED = {
    "tasks": "avem_plugins.tasks",
    "recipes": "avem_plugins.recipes",
    "plugins": "avem_plugins.plugins",
}

PROBE = r"""
import importlib, json, sys
from importlib.metadata import entry_points
from pathlib import Path
out = {"files": {}}
for pkg in %(pkgs)r:
    mod = importlib.import_module(pkg)
    base = Path(mod.__file__).parent
    out["files"][pkg] = sorted(
        str(p.relative_to(base)) for p in base.rglob("*")
        if p.is_file() and p.suffix != ".pyc" and "__pycache__" not in p.parts
    )
    out.setdefault("dirs", {})[pkg] = str(base)
import avem_plugins
out["avem_plugins"] = str(Path(avem_plugins.__file__).parent)
out["eps"] = {g: sorted(e.name for e in entry_points(group=g))
              for g in ("lmms_eval.models", "lmms_eval.tasks", "lm_eval.tasks", "pytest11", "console_scripts")}
from avem_plugins.registry import load_plugins
pm = load_plugins()
out["plugins"] = sorted(pm.get_name(p) for p in pm.get_plugins())
import sysconfig
out["trl_hook_pth"] = (Path(sysconfig.get_paths()["purelib"]) / "avem_trl_hook.pth").is_file()
print(json.dumps(out))
"""


def _source_files(folder: str) -> list[str]:
    base = ROOT / folder
    return sorted(
        str(p.relative_to(base))
        for p in base.rglob("*")
        if p.is_file() and p.suffix != ".pyc" and "__pycache__" not in p.parts
    )


def _copy_source(dest: Path) -> Path:
    ignore = shutil.ignore_patterns(
        ".git",
        ".venv",
        "build",
        "dist",
        "*.egg-info",
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        ".mypy_cache",
        "avem-demo",
    )
    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def _fresh_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    py = path / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A plain path line: this environment's packages become importable, but its .pth files
    # (among them our own editable finder) are not executed.
    Path(purelib, "zz_pinned_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return py


def _pip(py: Path, *args: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "--disable-pip-version-check",
            "install",
            "--no-deps",
            "--no-index",
            *args,
        ],
        check=True,
        capture_output=True,
        text=True,
    )


def _probe(py: Path, cwd: Path) -> dict:
    res = subprocess.run(
        [str(py), "-c", PROBE % {"pkgs": list(MAPPED.values())}],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def _check(info: dict, expected_root: Path) -> None:
    assert Path(info["avem_plugins"]).resolve().is_relative_to(expected_root.resolve())
    for folder, pkg in MAPPED.items():
        assert Path(info["dirs"][pkg]).resolve().is_relative_to(expected_root.resolve())
        missing = set(_source_files(folder)) - set(info["files"][pkg])
        assert not missing, f"{folder}/ files missing from the installed {pkg}: {sorted(missing)}"
    assert "avem" in info["eps"]["lmms_eval.models"]
    assert "avem" in info["eps"]["lmms_eval.tasks"]
    assert "avem" in info["eps"]["lm_eval.tasks"]
    assert "avem" in info["eps"]["pytest11"]
    assert "avem" in info["eps"]["console_scripts"]
    assert {"builtin_dirs", "qwen2_5_omni", "qwen3_omni", "hf_generic"} <= set(info["plugins"])
    # the guarded `trl dpo --recipe` interception ships as a .pth at the site-packages root
    assert info["trl_hook_pth"], "avem_trl_hook.pth was not installed"


def test_wheel_in_fresh_venv(tmp_path):
    src = _copy_source(tmp_path / "src")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = (tmp_path / "dist").glob("avem_plugins-*.whl")
    py = _fresh_venv(tmp_path / "venv")
    _pip(py, str(wheel))
    info = _probe(py, cwd=tmp_path)
    venv_root = tmp_path / "venv"
    _check(info, venv_root)
    assert (venv_root / "bin" / "avem").exists()
    # Real RAVDESS audio is licensed for tests only and must never be packaged.
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.endswith(".wav")], "a .wav file was packaged"


def test_editable_in_fresh_venv(tmp_path):
    src = _copy_source(tmp_path / "src")
    py = _fresh_venv(tmp_path / "venv")
    _pip(py, "--no-build-isolation", "-e", str(src))
    info = _probe(py, cwd=tmp_path)
    _check(info, src)
