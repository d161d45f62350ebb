"""Packaging: the built sdist and wheel, the editable install, and three install stories.

Each case makes a fresh venv (no pip inside; this environment's pip installs into it with
``--python``) and shows it already-installed packages through a ``.pth`` path line, so no
network is needed:

- the wheel and the editable install carry tasks/, recipes/ and plugins/; building writes
  nothing into the source tree (no ``build/``, no ``*.egg-info``); ``twine check`` passes;
- three hosts, each a folder of symlinks to the site-packages entries of exactly the
  distributions such a setup has (computed from the installed metadata): an lmms-eval setup
  (no TRL), a TRL setup (no lmms-eval, no lm-eval, no matplotlib) and everything. In each,
  ``pip install --no-index`` of the wheel (with the host's extra) resolves with
  avem-plugins as the only thing to install, ``pip freeze`` before/after differs by
  avem-plugins alone, and what the host's users run works there (slow tests): an EmoReAlM
  evaluation through the lmms-eval CLI, two ``trl dpo --recipe avem-tiny`` steps.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.venv

ROOT = Path(__file__).resolve().parents[2]
PURELIB = Path(sysconfig.get_paths()["purelib"])
MAPPED = {
    "tasks": "avem_plugins.tasks",
    "recipes": "avem_plugins.recipes",
    "plugins": "avem_plugins.plugins",
}
#: What the issue saw a TRL-only user get from the old all-in-one requirements.
UNRELATED_TO_TRL = {
    "lmms-eval", "lm-eval", "wandb", "yt-dlp", "opencv-python-headless",
    "sentence-transformers", "ruff", "pre-commit", "matplotlib",
}  # fmt: skip
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "CUDA_VISIBLE_DEVICES": "",
    "WANDB_MODE": "disabled",
    "PATH": "/usr/bin:/bin",
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


# ------------------------------------------------------------------ building


def _source_files(folder: str) -> list[str]:
    base = ROOT / folder
    return sorted(
        str(p.relative_to(base))
        for p in base.rglob("*")
        if p.is_file() and p.suffix != ".pyc" and "__pycache__" not in p.parts
    )


def _copy_source(dest: Path) -> Path:
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
        ".ruff_cache", ".mypy_cache", "avem-demo",
    )  # fmt: skip
    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def _tree(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def _assert_nothing_written(src: Path, before: set[str]) -> None:
    after = _tree(src)
    assert not (src / "build").exists(), "a build wrote ./build into the source tree"
    assert not list(src.glob("*.egg-info")), "a build wrote *.egg-info into the source tree"
    assert after == before, f"a build changed the source tree: {sorted(after ^ before)[:10]}"


def _run(argv: list[object], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=900, **kwargs
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """sdist and wheel from ``python -m build`` (as CI builds them), from a source copy."""
    tmp = tmp_path_factory.mktemp("dist")
    src = _copy_source(tmp / "src")
    before = _tree(src)
    res = _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", tmp / "out", src])
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    _assert_nothing_written(src, before)
    (wheel,) = (tmp / "out").glob("avem_plugins-*.whl")
    (sdist,) = (tmp / "out").glob("avem_plugins-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_pip_wheel_writes_nothing_into_the_source_tree(tmp_path):
    src = _copy_source(tmp_path / "src")
    before = _tree(src)
    res = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", tmp_path / "dist", src]
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert list((tmp_path / "dist").glob("avem_plugins-*.whl"))
    _assert_nothing_written(src, before)


def test_twine_check_passes(dist):
    res = _run([sys.executable, "-m", "twine", "check", "--strict", dist["wheel"], dist["sdist"]])
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("PASSED") == 2


def test_sdist_and_wheel_metadata(dist):
    meta = _wheel_metadata(dist["wheel"])
    assert set(meta.get_all("Provides-Extra")) >= {"lmms-eval", "trl", "lm-eval", "report", "all"}
    core = [Requirement(r) for r in meta.get_all("Requires-Dist") if "extra ==" not in r]
    names = {canonicalize_name(r.name) for r in core}
    # the hosts and transformers are extras: no install drags a host in or upgrades transformers
    assert not names & {"lmms-eval", "trl", "lm-eval", "transformers", "torch", "matplotlib"}


# ------------------------------------------------------------------ fresh venvs


def _fresh_venv(path: Path, site_dir: Path = PURELIB) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    py = path / "bin" / "python"
    purelib = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    # A plain path line: those packages become importable, but .pth files there (among
    # them our own editable finder) are not executed.
    Path(purelib.stdout.strip(), "zz_host.pth").write_text(f"{site_dir}\n")
    return py


def _pip(py: Path, *args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = _run([sys.executable, "-m", "pip", "--python", py, "--disable-pip-version-check", *args])
    if check:
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def _probe(py: Path, cwd: Path) -> dict:
    res = _run(
        [py, "-c", PROBE % {"pkgs": list(MAPPED.values())}],
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


def test_wheel_in_fresh_venv(tmp_path, dist):
    py = _fresh_venv(tmp_path / "venv")
    _pip(py, "install", "--no-deps", "--no-index", dist["wheel"])
    info = _probe(py, cwd=tmp_path)
    venv_root = tmp_path / "venv"
    _check(info, venv_root)
    assert (venv_root / "bin" / "avem").exists()
    # Real RAVDESS audio is licensed for tests only and must never be packaged.
    names = zipfile.ZipFile(dist["wheel"]).namelist()
    assert not [n for n in names if n.endswith(".wav")], "a .wav file was packaged"


def test_editable_in_fresh_venv(tmp_path):
    src = _copy_source(tmp_path / "src")
    before = _tree(src)
    py = _fresh_venv(tmp_path / "venv")
    _pip(py, "install", "--no-deps", "--no-index", "--no-build-isolation", "-e", src)
    info = _probe(py, cwd=tmp_path)
    _check(info, src)
    _assert_nothing_written(src, before)


# ------------------------------------------------------------------ install stories


def _wheel_metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(zf.read(name).decode())


def _installed() -> dict[str, metadata.Distribution]:
    out: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions(path=[str(PURELIB)]):
        out.setdefault(canonicalize_name(dist.metadata["Name"]), dist)
    return out


def closure(requirements: list[str], installed: dict[str, metadata.Distribution]) -> set[str]:
    """Names of the installed distributions ``requirements`` need, transitively (markers and
    extras evaluated as pip would on this interpreter)."""
    env = default_environment()
    todo = [(Requirement(r), "") for r in requirements]
    seen: set[tuple[str, str]] = set()
    out: set[str] = set()
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
            continue
        name = canonicalize_name(req.name)
        for wanted in ("", *sorted(req.extras)):
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            out.add(name)
            dist = installed.get(name)
            if dist is None:
                continue
            todo.extend((Requirement(r), wanted) for r in dist.requires or [])
    return out


def _ours(meta, extras: tuple[str, ...]) -> list[str]:
    """Our wheel's requirements with ``extras`` chosen (``all`` names the other extras)."""
    lines = [Requirement(line) for line in meta.get_all("Requires-Dist")]
    chosen = set(extras)
    for req in lines:  # `all = ["avem-plugins[lmms-eval,trl,...]"]`
        if (
            canonicalize_name(req.name) == "avem-plugins"
            and req.marker is not None
            and any(req.marker.evaluate({"extra": e}) for e in extras)
        ):
            chosen |= set(req.extras)
    return [  # the markers are evaluated here: closure() sees plain requirements
        f"{req.name}[{','.join(sorted(req.extras))}]{req.specifier}"
        for req in lines
        if canonicalize_name(req.name) != "avem-plugins"
        and (req.marker is None or any(req.marker.evaluate({"extra": e}) for e in chosen))
    ]


def make_host(folder: Path, names: set[str], installed: dict[str, metadata.Distribution]) -> Path:
    """A folder of symlinks to the site-packages entries of the distributions ``names``."""
    folder.mkdir(parents=True)
    entries: set[str] = set()
    for name in names:
        dist = installed.get(name)
        if dist is None:
            continue
        entries.add(Path(str(dist._path)).name)  # type: ignore[attr-defined]
        for file in dist.files or []:
            first = file.parts[0]
            if first != ".." and not first.endswith(".pth"):
                entries.add(first)
    for entry in entries:
        target = PURELIB / entry
        if target.exists() and entry != "__pycache__":
            (folder / entry).symlink_to(target)
    return folder


def _freeze(py: Path) -> set[str]:
    res = _pip(py, "freeze", "--all")
    return {line for line in res.stdout.splitlines() if line and not line.startswith("#")}


HOSTS = {
    # name: (what the setup has, the extra a user of it installs)
    "lmms-eval": (["lmms-eval"], "lmms-eval"),
    "trl": (["trl"], "trl"),
    "all": (None, "all"),
}


@pytest.fixture(scope="module")
def hosts(tmp_path_factory, dist) -> dict[str, dict]:
    """Per story: the venv with avem-plugins installed from the wheel, and what pip did."""
    installed = _installed()
    meta = _wheel_metadata(dist["wheel"])
    out = {}
    for story, (roots, extra) in HOSTS.items():
        tmp = tmp_path_factory.mktemp(f"host-{story}")
        ours = _ours(meta, (extra,))
        if roots is None:  # everything this environment has, but avem-plugins
            names = set(installed) - {"avem-plugins"}
        else:
            names = closure(roots, installed) | closure(ours, installed)
        # named site-packages: dill (datasets fingerprints) pickles modules from elsewhere by value
        host = make_host(tmp / "host" / "site-packages", names, installed)
        py = _fresh_venv(tmp / "venv", site_dir=host)
        before = _freeze(py)
        report = tmp / "report.json"
        _pip(py, "install", "--dry-run", "--no-index", "--report", report,
             f"{dist['wheel']}[{extra}]")  # fmt: skip
        to_install = [i["metadata"]["name"] for i in json.loads(report.read_text())["install"]]
        _pip(py, "install", "--no-index", f"{dist['wheel']}[{extra}]")
        out[story] = {
            "py": py,
            "venv": tmp / "venv",
            "names": names,
            "own": closure(roots, installed) if roots else names,
            "ours": closure(ours, installed),
            "to_install": to_install,
            "added": _freeze(py) - before,
            "tmp": tmp,
        }
    return out


@pytest.mark.slow
@pytest.mark.parametrize("story", list(HOSTS))
def test_installing_adds_only_avem_plugins(hosts, story):
    host = hosts[story]
    assert host["to_install"] == ["avem-plugins"]
    assert [re.split(r"==| @ ", line)[0] for line in host["added"]] == ["avem-plugins"], host[
        "added"
    ]


@pytest.mark.slow
def test_the_hosts_are_what_their_users_have(hosts):
    lmms, trl = hosts["lmms-eval"], hosts["trl"]
    assert "trl" not in lmms["names"] and "lmms-eval" in lmms["names"]
    assert not {"lmms-eval", "lm-eval", "matplotlib"} & trl["names"] and "trl" in trl["names"]
    # what avem-plugins[trl] needs beyond TRL's own closure: nothing the issue called unrelated
    beyond = trl["ours"] - trl["own"]
    assert not beyond & UNRELATED_TO_TRL, sorted(beyond & UNRELATED_TO_TRL)
    assert "trl" not in lmms["ours"]  # avem-plugins[lmms-eval] never pulls TRL


@pytest.mark.slow
def test_a_missing_host_extra_does_not_resolve_offline(hosts, dist):
    """The control: the TRL host lacks lmms-eval, so the lmms-eval extra cannot resolve there
    (the dry runs above would fail if our core needed a host)."""
    res = _pip(
        hosts["trl"]["py"], "install", "--dry-run", "--no-index", f"{dist['wheel']}[lmms-eval]",
        check=False,
    )  # fmt: skip
    assert res.returncode != 0 and "lmms-eval" in (res.stdout + res.stderr)


def _venv_run(host: dict, argv: list[object], **env: str) -> subprocess.CompletedProcess[str]:
    return _run(argv, cwd=host["tmp"], env={**OFFLINE, "HOME": str(host["tmp"]), **env})


@pytest.mark.slow
def test_trl_host_avem_demo_without_matplotlib_stops_at_once(hosts):
    host = hosts["trl"]
    start = time.perf_counter()
    res = _venv_run(host, [host["venv"] / "bin" / "avem", "demo", "--out", host["tmp"] / "demo"])
    elapsed = time.perf_counter() - start
    assert res.returncode == 1
    assert res.stdout == ""
    assert res.stderr.splitlines() == [
        "avem demo needs lmms_eval, matplotlib (not installed): "
        "pip install 'avem-plugins[lmms-eval,report]'"
    ]
    assert elapsed < 5, f"{elapsed:.1f} s"
    assert not (host["tmp"] / "demo").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("story", "missing"), [("lmms-eval", "[trl]"), ("trl", "[lmms-eval]")])
def test_doctor_in_each_host(hosts, story, missing):
    host = hosts[story]
    res = _venv_run(host, [host["venv"] / "bin" / "avem", "doctor", "--json"])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows[missing]["status"] == "info" and "pip install" in rows[missing]["detail"]
    assert rows["transformers"]["status"] == "ok"


@pytest.mark.slow
def test_lmms_eval_host_evaluates_with_avem_av(hosts, tiny_qwen2_5_omni_dir):
    from avem_plugins.testing.benchdata import write_dfew_tree, write_emorealm_json

    host = hosts["lmms-eval"]
    data = host["tmp"] / "data"
    dfew = write_dfew_tree(data / "DFEW", {1: "happiness", 2: "sadness"}, clips=True)
    questions = write_emorealm_json(data / "emorealm.json", ["part_1/00001.mp4"], per_task=2)
    # no TRL in this setup; `avem dpo` says which extra, in one line
    res = _venv_run(host, [host["venv"] / "bin" / "avem", "dpo", "--recipe", "avem-tiny"])
    assert res.returncode == 1
    assert (
        res.stderr.strip() == "avem dpo needs trl (not installed): pip install 'avem-plugins[trl]'"
    )
    out = host["tmp"] / "lmms-out"
    res = _venv_run(
        host,
        [host["py"], "-m", "lmms_eval", "--model", "avem_av",
         "--model_args", f"pretrained={tiny_qwen2_5_omni_dir},device=cpu,max_new_tokens=4",
         "--tasks", "emorealm_reasoning_basic_video", "--limit", "2", "--output_path", out],
        EMOREALM_JSON=str(questions), DFEW_ROOT=str(dfew / "Clip"),
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (results,) = out.rglob("*_results.json")
    scores = json.loads(results.read_text())["results"]["emorealm_reasoning_basic_video"]
    assert "accuracy,none" in scores and scores["missing_media_count,none"] == 0


@pytest.mark.slow
def test_trl_host_trains_with_trl_dpo_recipe(hosts, tiny_qwen2_5_omni_dir, avem_synth_clips):
    host = hosts["trl"]
    media = avem_synth_clips[0].path.parent
    prefs = host["tmp"] / "prefs.jsonl"
    prompt = "<video>\n<audio>\nWhat emotion does the person show, and why?"
    prefs.write_text(
        "".join(
            json.dumps({
                "prompt": prompt,
                "chosen": f"The person shows {rec.emotion}: {rec.visual_caption}.",
                "rejected": f"The person shows {rec.emotion} because of a smile.",
                "rejected_2": f"The person shows {rec.emotion}: {rec.audio_caption}.",
                "video": rec.path.name,
            }) + "\n"
            for rec in avem_synth_clips
        )
    )  # fmt: skip
    # TRL's console script, as `pip install trl` writes it
    trl = host["venv"] / "bin" / "trl"
    trl.write_text(
        f"#!{host['py']}\nimport sys\nfrom trl.cli import main\nif __name__ == '__main__':\n"
        "    sys.exit(main())\n"
    )
    trl.chmod(0o755)
    cpu = host["tmp"] / "cpu.yaml"
    cpu.write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: 'NO'\nnum_processes: 1\n"
        "num_machines: 1\nmachine_rank: 0\nmixed_precision: 'no'\nuse_cpu: true\n"
    )
    out = host["tmp"] / "dpo-out"
    res = _venv_run(
        host,
        [trl, "dpo", "--recipe", "avem-tiny", "--model_name_or_path", tiny_qwen2_5_omni_dir,
         "--dataset_name", prefs, "--media_root", media, "--output_dir", out,
         "--max_steps", "2", "--accelerate_config", cpu],
        PATH=f"{host['venv'] / 'bin'}:/usr/bin:/bin",
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (out / "adapter_model.safetensors").is_file()
    assert "lmms_eval" not in res.stderr  # nothing of lmms-eval in this setup


@pytest.mark.slow
def test_full_install_lists_avem_av_and_passes_doctor(hosts):
    host = hosts["all"]
    res = _venv_run(host, [host["venv"] / "bin" / "avem", "doctor"])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert all(f"ok    [{e}]" in res.stdout for e in ("lmms-eval", "trl", "lm-eval", "report"))
    res = _venv_run(host, [host["py"], "-m", "lmms_eval", "models"])
    assert res.returncode == 0, res.stderr[-2000:]
    assert ["avem_av", "chat+simple"] in [line.split() for line in res.stdout.splitlines()]
