"""Nothing runs that the user did not ask for.

- ``trust_remote_code`` reaches ``from_pretrained`` as ``False`` unless the user sets it, in
  ``avem_av`` (lmms-eval), ``AVEmDPOTrainer`` and the `trl dpo`/`avem dpo` worker;
- no pickle: our sources contain no unpickling call (an AST scan that is itself tested on a
  bad snippet), and pickle or YAML-object payloads given as preference data, questions file,
  dataset name or recipe are refused without running their code;
- the `trl` interception is inert at start-up for every other program (it imports nothing),
  and a plain ``python`` never imports ``avem_plugins``; disabling it with ``AVEM_TRL_HOOK=0``
  is tested on the real `trl` in tests/integration/test_trl_cli.py;
- no network: ``import avem_plugins`` (plugins, task utils, recipes registry) and
  ``avem --help`` run under a ``sitecustomize`` socket guard that records (and refuses) every
  connection and DNS lookup.
"""

from __future__ import annotations

import ast
import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from reliability_data import pref_row, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = ("avem_plugins", "plugins", "tasks", "recipes")
BIN = Path(sys.executable).parent

# ------------------------------------------------------------------ trust_remote_code


@contextmanager
def from_pretrained_calls() -> Iterator[list[tuple[str, object]]]:
    """Record ``(what, trust_remote_code)`` of every config/processor/model ``from_pretrained``."""
    import transformers
    from transformers.modeling_utils import PreTrainedModel

    calls: list[tuple[str, object]] = []
    targets = [transformers.AutoConfig, transformers.AutoProcessor, transformers.AutoTokenizer,
               PreTrainedModel]  # fmt: skip
    saved = {t: t.__dict__["from_pretrained"] for t in targets}

    def spy(target: type, original: classmethod) -> classmethod:
        def wrapper(cls, *args, **kwargs):
            calls.append((cls.__name__, kwargs.get("trust_remote_code", False)))
            return original.__func__(cls, *args, **kwargs)

        return classmethod(wrapper)

    for target, original in saved.items():
        target.from_pretrained = spy(target, original)
    try:
        yield calls
    finally:
        for target, original in saved.items():
            target.from_pretrained = original


def _kinds(calls: list[tuple[str, object]], value: object) -> set[str]:
    """Which kinds of object were loaded with ``trust_remote_code == value``."""
    kinds = set()
    for name, trust in calls:
        if trust is value:
            kinds.add("config" if name == "AutoConfig" else
                      "processor" if name in ("AutoProcessor", "AutoTokenizer") else "model")  # fmt: skip
    return kinds


@pytest.mark.parametrize("asked", [None, "true"])
def test_avem_av_passes_trust_remote_code_only_when_asked(asked, tiny_qwen2_5_omni_dir):
    pytest.importorskip("lmms_eval")
    from avem_plugins.lmms.model import AvemAV

    extra = {} if asked is None else {"trust_remote_code": asked}
    with from_pretrained_calls() as calls:
        AvemAV(pretrained=str(tiny_qwen2_5_omni_dir), device="cpu", **extra)
    assert _kinds(calls, asked is not None) == {"config", "processor", "model"}, calls
    assert not _kinds(calls, asked is None), calls  # never the other value


@pytest.mark.parametrize("asked", [False, True])
def test_trainer_passes_trust_remote_code_only_when_asked(
    asked, tiny_qwen2_5_omni_dir, avem_synth_clips, tmp_path
):
    pytest.importorskip("trl")
    from avem_plugins.dpo.config import AVEmDPOConfig
    from avem_plugins.dpo.train import language_lora_config
    from avem_plugins.dpo.trainer import AVEmDPOTrainer
    from avem_plugins.prefs.schema import load_preference_dataset
    from avem_plugins.registry import get_adapter

    media = avem_synth_clips[0].path.parent
    prefs = write_jsonl(tmp_path / "p.jsonl", [pref_row(0, avem_synth_clips[0].path.name)])
    args = AVEmDPOConfig(
        output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, report_to="none",
        gradient_checkpointing=False, trust_remote_code=asked,
    )  # fmt: skip
    with from_pretrained_calls() as calls:
        AVEmDPOTrainer(
            model=str(tiny_qwen2_5_omni_dir),
            args=args,
            train_dataset=load_preference_dataset(prefs, media),
            peft_config=language_lora_config(r=4),
            adapter=get_adapter("qwen2_5_omni"),
        )
    assert _kinds(calls, asked) == {"config", "processor", "model"}, calls
    assert not _kinds(calls, not asked), calls


@pytest.mark.parametrize("asked", [False, True])
def test_dpo_worker_passes_trust_remote_code_only_when_asked(
    asked, tiny_qwen2_5_omni_dir, tmp_path, capsys
):
    """The `trl dpo --recipe` / `avem dpo` worker; a bad data file stops it right after loading."""
    pytest.importorskip("trl")
    from avem_plugins.launch.launcher import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    argv = ["--recipe", "avem-tiny", "--model_name_or_path", str(tiny_qwen2_5_omni_dir),
            "--dataset_name", str(bad), "--output_dir", str(tmp_path / "out")]  # fmt: skip
    if asked:
        argv.append("--trust_remote_code")
    with from_pretrained_calls() as calls, pytest.raises(SystemExit):
        main(argv)
    assert "error: PreferenceDataError" in capsys.readouterr().err
    assert _kinds(calls, asked) >= {"config", "model"}, calls
    assert not _kinds(calls, not asked), calls


# ------------------------------------------------------------------------------ pickle

#: ``module.function`` calls that unpickle or run code from data.
UNSAFE_CALLS = {
    "pickle.load", "pickle.loads", "pickle.Unpickler", "cPickle.load", "cPickle.loads",
    "dill.load", "dill.loads", "joblib.load", "marshal.load", "marshal.loads", "shelve.open",
    "pd.read_pickle", "pandas.read_pickle", "yaml.load", "yaml.unsafe_load", "yaml.full_load",
    "yaml.load_all", "yaml.unsafe_load_all", "yaml.full_load_all",
}  # fmt: skip
UNSAFE_MODULES = {
    "pickle",
    "cPickle",
    "_pickle",
    "dill",
    "joblib",
    "marshal",
    "shelve",
    "cloudpickle",
}


def _keyword(call: ast.Call, name: str) -> object:
    for kw in call.keywords:
        if kw.arg == name:
            return ast.literal_eval(kw.value) if isinstance(kw.value, ast.Constant) else "?"
    return None


def unsafe_loads(source: str, filename: str = "<src>") -> list[str]:
    """Unpickling and code-running calls in ``source`` (``file:line: what``)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            found += [f"{where}: import {n}" for n in names if n.split(".")[0] in UNSAFE_MODULES]
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("eval", "exec"):
            found.append(f"{where}: {func.id}()")
        if not isinstance(func, ast.Attribute):
            continue
        owner = func.value.id if isinstance(func.value, ast.Name) else ""
        name = f"{owner}.{func.attr}"
        if name in UNSAFE_CALLS:
            found.append(f"{where}: {name}()")
        elif (
            func.attr == "load" and owner == "torch" and _keyword(node, "weights_only") is not True
        ):
            found.append(f"{where}: torch.load() without weights_only=True")
        elif func.attr == "load" and owner in ("np", "numpy") and _keyword(node, "allow_pickle"):
            found.append(f"{where}: {name}(allow_pickle=True)")
    return found


def test_the_scan_finds_unpickling_calls():
    bad = textwrap.dedent("""
        import pickle, torch, numpy as np, yaml
        pickle.loads(b"")
        torch.load("x.pt")
        torch.load("x.pt", weights_only=False)
        np.load("x.npy", allow_pickle=True)
        yaml.load("a: 1")
        eval("1")
    """)
    found = unsafe_loads(bad)
    assert len(found) == 7, found
    safe = 'import torch, yaml\ntorch.load("x.pt", weights_only=True)\nyaml.safe_load("a: 1")\n'
    assert unsafe_loads(safe) == []


def test_our_sources_never_unpickle_or_eval():
    files = [p for d in PACKAGE_DIRS for p in sorted((ROOT / d).rglob("*.py"))]
    assert len(files) > 40  # the scan really covers the package
    found = [hit for p in files for hit in unsafe_loads(p.read_text(), str(p.relative_to(ROOT)))]
    assert found == []


class _Payload:
    """Unpickling this creates ``marker``: proof that a loader ran code from the data."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_and_yaml_payloads_are_refused_without_running(tmp_path, monkeypatch):
    from avem_plugins.launch.recipe import RecipeError, load_recipe
    from avem_plugins.prefs.schema import PreferenceDataError, load_preferences

    marker = tmp_path / "payload-ran"
    blob = pickle.dumps([_Payload(marker)])
    for name in ("prefs.jsonl", "prefs.json"):  # a pickle renamed as preference data
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(PreferenceDataError, match=rf"{name} line 1: not UTF-8"):
            load_preferences(tmp_path / name)
    recipe = tmp_path / "evil.yaml"
    recipe.write_text(
        f"recipe:\n  description: x\nbeta: !!python/object/apply:builtins.open ['{marker}', 'w']\n"
    )
    with pytest.raises(RecipeError, match="could not determine a constructor"):
        load_recipe(recipe)
    from avem_plugins.tasks.emorealm import utils

    from avem_plugins.scoring.taskdata import TaskDataError

    (tmp_path / "q.json").write_bytes(blob)  # a pickle given as the EmoReAlM questions file
    monkeypatch.setenv("EMOREALM_JSON", str(tmp_path / "q.json"))
    with pytest.raises(TaskDataError, match="not UTF-8"):
        utils.load_items()
    assert not marker.exists()


def test_a_pickle_as_dataset_name_is_not_loaded(tmp_path):
    pytest.importorskip("datasets")
    import datasets

    marker = tmp_path / "payload-ran"
    evil = tmp_path / "data.pkl"
    evil.write_bytes(pickle.dumps([_Payload(marker)]))
    # what `--dataset_name data.pkl` does (avem_plugins.dpo.train.load_split hands it to datasets)
    with pytest.raises(Exception, match="data file"):
        datasets.load_dataset(str(evil))
    assert not marker.exists()


# ------------------------------------------------------------------ start-up and network


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    res = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_a_plain_interpreter_imports_nothing_of_ours():
    probe = "import sys; print(sorted(m for m in sys.modules if m.startswith('avem')))"
    assert _python(probe) == "[]"
    # "dpo ... --recipe" in the arguments of a program that is not `trl`: the hook looks and
    # leaves, installing nothing
    probe = (
        "import sys; from avem_plugins.launch import trl_hook; "
        "print(trl_hook.installed(), 'trl.cli.main' in sys.modules)"
    )
    assert _python(probe, "dpo", "--recipe", "avem") == "False False"


GUARD = """
import os, socket, sys

_LOG = os.environ["AVEM_NET_LOG"]


def _refuse(what, *args):
    with open(_LOG, "a") as handle:
        handle.write(f"{what} {args!r} in {' '.join(sys.argv)[:200]}\\n")
    raise OSError(f"network disabled by the reliability tests: {what}")


def _connect(self, address, _orig=socket.socket.connect):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse("connect", address)
    return _orig(self, address)


def _connect_ex(self, address, _orig=socket.socket.connect_ex):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse("connect_ex", address)
    return _orig(self, address)


socket.socket.connect = _connect
socket.socket.connect_ex = _connect_ex
socket.getaddrinfo = lambda *a, **k: _refuse("getaddrinfo", *a)
socket.gethostbyname = lambda *a, **k: _refuse("gethostbyname", *a)
socket.create_connection = lambda *a, **k: _refuse("create_connection", *a)
"""


@pytest.fixture
def guarded_env(tmp_path) -> dict[str, str]:
    (tmp_path / "guard").mkdir()
    (tmp_path / "guard" / "sitecustomize.py").write_text(GUARD)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path / "guard"),
                                                      env.get("PYTHONPATH")]))  # fmt: skip
    env["AVEM_NET_LOG"] = str(tmp_path / "net.log")
    return env  # no HF_HUB_OFFLINE: a library reaching for the hub would be seen


def _attempts(env: dict[str, str]) -> str:
    log = Path(env["AVEM_NET_LOG"])
    return log.read_text() if log.exists() else ""


def test_the_guard_sees_a_connection(guarded_env):
    code = "import urllib.request\ntry:\n urllib.request.urlopen('http://example.com', timeout=1)\nexcept OSError:\n pass"
    _python(code, env=guarded_env)
    assert "getaddrinfo" in _attempts(guarded_env) or "connect" in _attempts(guarded_env)


def test_no_network_at_import_or_in_help(guarded_env):
    code = textwrap.dedent("""
        import importlib
        import avem_plugins
        from avem_plugins.registry import load_plugins
        load_plugins()
        for name in ("avem_plugins.cli.main", "avem_plugins.launch.recipe", "avem_plugins.scoring.taskdata",
                     "avem_plugins.tasks.emorealm.utils", "avem_plugins.tasks.dfew.utils",
                     "avem_plugins.tasks.ravdess.utils", "avem_plugins.tasks.emer.utils",
                     "avem_plugins.media", "avem_plugins.prefs.schema", "avem_plugins.lmms.entrypoint"):
            importlib.import_module(name)
        from avem_plugins.launch.recipe import available_recipes
        print(len(available_recipes()))
    """)
    assert int(_python(code, env=guarded_env)) > 3
    for argv in (["--help"], ["prefs", "--help"], ["recipes", "--help"], ["tasks-dir"]):
        res = subprocess.run([str(BIN / "avem"), *argv], capture_output=True, text=True,
                             env=guarded_env, timeout=120)  # fmt: skip
        assert res.returncode == 0, (argv, res.stderr)
    assert _attempts(guarded_env) == ""
