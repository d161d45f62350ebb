"""Hosts as extras: what is missing is named in one line, before any work, with the extra.

The environment is faked at the one seam :mod:`avem_plugins.extras` reads
(``module_present`` / ``transformers_version``); real installs without a host are tested in
tests/integration/test_packaging.py. transformers 4.x is simulated in a subprocess by
patching ``importlib.metadata.version`` before our model module is imported.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from avem_plugins import extras
from avem_plugins.cli.main import app

runner = CliRunner()


@pytest.fixture
def without(monkeypatch):
    """``without("trl", "matplotlib")``: those top-level modules look uninstalled."""

    def hide(*modules: str) -> None:
        real = extras.module_present
        monkeypatch.setattr(extras, "module_present", lambda m: m not in modules and real(m))

    return hide


def test_extras_name_what_they_bring():
    assert list(extras.EXTRAS) == ["lmms-eval", "trl", "lm-eval", "report"]
    assert extras.EXTRAS["trl"].modules == ("trl", "peft")
    assert extras.install_command(["trl", "report"]) == "pip install 'avem-plugins[trl,report]'"
    assert all(extras.present(name) for name in extras.EXTRAS)  # the dev environment has all


def test_presence_is_looked_up_without_importing(monkeypatch):
    monkeypatch.delitem(sys.modules, "lm_eval", raising=False)
    assert extras.present("lm-eval")
    assert "lm_eval" not in sys.modules
    assert not extras.module_present("no_such_module_avem")


def test_require_raises_one_line_naming_the_extra(without):
    without("matplotlib", "trl")
    with pytest.raises(extras.MissingExtraError) as err:
        extras.require("avem demo", "lmms-eval", "trl", "report")
    message = str(err.value)
    assert "\n" not in message
    assert message == (
        "avem demo needs trl, matplotlib (not installed): pip install 'avem-plugins[trl,report]'"
    )
    extras.require("avem report-like", "lmms-eval")  # present: no error


@pytest.mark.parametrize(
    ("version", "ok"),
    [("5.23.0", True), ("5.24.0", True), ("5.22.1", False), ("4.57.1", False), ("6.0.0", False)],
)
def test_transformers_range(monkeypatch, version, ok):
    monkeypatch.setattr(extras, "transformers_version", lambda: version)
    assert (extras.transformers_problem() is None) is ok
    if not ok:
        with pytest.raises(extras.RequirementError) as err:
            extras.require_transformers("avem_av")
        message = str(err.value)
        assert "\n" not in message and f"transformers {version} is installed" in message
        assert "transformers>=5.23,<6" in message
        assert ("major upgrade" in message) is version.startswith("4.")


def test_require_transformers_when_absent(monkeypatch):
    monkeypatch.setattr(extras, "transformers_version", lambda: None)
    with pytest.raises(extras.MissingExtraError, match=r"avem tiny-model needs transformers"):
        extras.require("avem tiny-model", transformers=True)


# --- every command that needs a host or matplotlib says so first -----------------------

COMMANDS = [
    (["demo", "--out", "{tmp}/demo"], ("matplotlib",), "avem demo", "report"),
    (["demo", "--out", "{tmp}/demo"], ("trl",), "avem demo", "trl"),
    (["demo", "--out", "{tmp}/demo"], ("lmms_eval",), "avem demo", "lmms-eval"),
    (["report", "{tmp}/results"], ("matplotlib",), "avem report", "report"),
    (["dpo", "--recipe", "avem-tiny"], ("peft",), "avem dpo", "trl"),
    (["recipes", "validate"], ("trl",), "avem recipes validate", "trl"),
    (["study", "--out", "{tmp}/demo"], ("trl",), "avem study", "trl"),
    (
        ["study", "--out", "{tmp}/demo", "--report-only"],
        ("matplotlib",),
        "avem study --report-only",
        "report",
    ),
]


@pytest.fixture
def no_work(monkeypatch):
    """The work each command does: fails the test at once if reached (no minutes-long runs)."""
    import avem_plugins.demo
    import avem_plugins.launch.launcher
    import avem_plugins.launch.recipe
    import avem_plugins.report
    import avem_plugins.study

    def reached(*args, **kwargs):
        raise AssertionError("the command started its work before checking the extras")

    monkeypatch.setattr(avem_plugins.demo, "run_demo", reached)
    monkeypatch.setattr(avem_plugins.study, "Study", reached)
    monkeypatch.setattr(avem_plugins.report, "report", reached)
    monkeypatch.setattr(avem_plugins.launch.launcher, "launch", reached)
    monkeypatch.setattr(avem_plugins.launch.recipe, "validate", reached)


@pytest.mark.parametrize(("args", "hidden", "command", "extra"), COMMANDS)
def test_a_command_missing_an_extra_says_which_and_does_nothing(
    tmp_path, without, no_work, args, hidden, command, extra
):
    without(*hidden)
    result = runner.invoke(app, [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"{command} needs ")
    assert f"avem-plugins[{extra}" in lines[0]
    assert not (tmp_path / "demo").exists()  # no work was done


def test_tiny_model_under_transformers_4(tmp_path, monkeypatch):
    monkeypatch.setattr(extras, "transformers_version", lambda: "4.57.1")
    result = runner.invoke(app, ["tiny-model", str(tmp_path / "tiny")])
    assert result.exit_code == 1
    assert "transformers 4.57.1 is installed" in result.output
    assert not (tmp_path / "tiny").exists()


def test_the_launcher_checks_before_parsing(without, capsys):
    from avem_plugins.launch.launcher import launch

    without("peft")
    ran = []
    code = launch(["--recipe", "avem-tiny"], prog="trl dpo", runner=ran.append)
    assert code == 1 and not ran
    err = capsys.readouterr().err.strip()
    assert err == "trl dpo needs peft (not installed): pip install 'avem-plugins[trl]'"


# --- transformers 4.x: our lmms-eval model fails at import with one line -----------------

FAKE_4X = """
import importlib.metadata as _m
_real = _m.version
_m.version = lambda name: "4.57.1" if name == "transformers" else _real(name)
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", FAKE_4X + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize("module", ["avem_plugins.lmms.model", "avem_plugins.models.avem_av"])
def test_importing_our_model_under_transformers_4_is_one_line(module):
    res = _run(f"import {module}")
    assert res.returncode == 1
    last = res.stderr.strip().splitlines()[-1]
    assert last == (
        "avem_plugins.extras.RequirementError: avem_av (avem-plugins' lmms-eval model): "
        "transformers 4.57.1 is installed, avem-plugins needs transformers>=5.23,<6; "
        "pip install 'transformers>=5.23,<6' is a major upgrade (other models of your setup "
        "may need 4.x; README: Install)"
    )
    assert "transformers" not in [
        line.split()[-1] for line in res.stderr.splitlines() if line.startswith("  File")
    ]  # the error comes from our check, not from inside transformers


def test_the_entry_point_path_under_transformers_4():
    """lmms-eval's registry still lists avem_av (the entry point never raises); resolving
    the model fails with our one line."""
    res = _run(
        """
        import lmms_eval.models as models
        assert "avem_av" in models.list_available_models()
        try:
            models.get_model("avem_av")
        except ImportError as err:
            print("ERR", type(err).__name__, err)
        """
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "ERR RequirementError avem_av (avem-plugins' lmms-eval model): transformers 4.57.1" in (
        res.stdout
    )


def test_readme_install_commands_work_today():
    """The name is not on the package index: the README installs from a clone or a wheel,
    with extras that exist."""
    import re
    from pathlib import Path

    import tomllib

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    extras_declared = set(
        tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    )
    commands = re.findall(r"pip install '([^']+)'", readme)
    assert commands and not re.search(r"pip install avem-plugins\b", readme)
    for target in commands:
        if target.startswith(("./avem-plugins[", "./dist/avem_plugins-")):
            used = set(target[target.index("[") + 1 : -1].split(","))
            assert used <= extras_declared | {"EXTRA"}, target
    assert "transformers>=5.23" in readme


def test_the_transformers_requirement_is_the_one_pyproject_declares():
    """extras.TRANSFORMERS_SPEC (checked at run time) and the extras' requirement agree."""
    from pathlib import Path

    import tomllib
    from packaging.requirements import Requirement

    root = Path(__file__).resolve().parents[2]
    extras_declared = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    specs = {
        str(Requirement(line).specifier)
        for name in ("lmms-eval", "trl")
        for line in extras_declared[name]
        if Requirement(line).name == "transformers"
    }
    from packaging.specifiers import SpecifierSet

    assert {SpecifierSet(s) for s in specs} == {SpecifierSet(extras.TRANSFORMERS_SPEC)}
