"""The guarded `trl dpo --recipe` interception, in-process (the real CLI: integration tests)."""

from __future__ import annotations

import sys
import types

import pytest

from avem_plugins.launch import trl_hook

TRL = "/venv/bin/trl"


@pytest.fixture(autouse=True)
def clean_meta_path(monkeypatch):
    monkeypatch.delenv(trl_hook.ENV_VAR, raising=False)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    yield


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([TRL, "dpo", "--recipe", "avem"], True),
        ([TRL, "dpo", "--model_name_or_path", "m", "--recipe=avem"], True),
        (["C:\\venv\\Scripts\\trl.exe", "dpo", "--recipe", "avem"], True),
        ([TRL, "dpo", "--model_name_or_path", "m"], False),  # no --recipe: TRL untouched
        ([TRL, "sft", "--recipe", "avem"], False),  # other TRL commands untouched
        (["/venv/bin/python", "dpo", "--recipe", "avem"], False),  # not the trl program
        (["/venv/bin/trl-extra", "dpo", "--recipe", "avem"], False),
        ([TRL, "dpo", "--recipes", "avem"], False),
    ],
)
def test_wants_recipe(argv, expected):
    assert trl_hook.wants_recipe(argv) is expected


def test_activate_installs_one_finder_only_when_wanted(monkeypatch):
    assert trl_hook.activate([TRL, "dpo", "--output_dir", "x"]) is False
    assert not trl_hook.installed()
    monkeypatch.setitem(sys.modules, trl_hook.TARGET, None)  # pretend not imported yet
    monkeypatch.delitem(sys.modules, trl_hook.TARGET)
    assert trl_hook.activate([TRL, "dpo", "--recipe", "avem"]) is True
    assert trl_hook.activate([TRL, "dpo", "--recipe", "avem"]) is True  # .pth read twice
    assert sum(isinstance(f, trl_hook.AfterImport) for f in sys.meta_path) == 1


@pytest.mark.parametrize("value", ["0", "false", "NO", "off"])
def test_env_var_disables(monkeypatch, value):
    monkeypatch.setenv(trl_hook.ENV_VAR, value)
    assert trl_hook.activate([TRL, "dpo", "--recipe", "avem"]) is False
    assert not trl_hook.installed()


def test_activate_never_raises(monkeypatch, capsys):
    def boom(argv):
        raise RuntimeError("broken")

    monkeypatch.setattr(trl_hook, "wants_recipe", boom)
    assert trl_hook.activate([TRL, "dpo", "--recipe", "avem"]) is False
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "running TRL unchanged" in err


def _fake_cli(calls):
    module = types.ModuleType("fake_trl_cli_main")

    def main(argv=None):
        calls.append(("trl", argv))
        return 0

    module.main = main
    return module


def test_wrapped_main_routes_only_dpo_recipe(monkeypatch):
    calls = []
    module = _fake_cli(calls)
    monkeypatch.setattr(trl_hook, "trl_version", lambda: "1.16.0")
    import avem_plugins.launch.launcher

    monkeypatch.setattr(
        avem_plugins.launch.launcher, "launch", lambda argv, prog: calls.append((prog, argv)) or 0
    )
    assert trl_hook._wrap(module) is True
    assert trl_hook._wrap(module) is True  # idempotent: not wrapped twice
    assert module.main(["dpo", "--recipe", "avem", "--beta", "0.2"]) == 0
    assert module.main(["dpo", "--beta", "0.2"]) == 0
    assert module.main(["sft", "--recipe", "x"]) == 0
    assert calls == [
        ("trl dpo", ["--recipe", "avem", "--beta", "0.2"]),
        ("trl", ["dpo", "--beta", "0.2"]),
        ("trl", ["sft", "--recipe", "x"]),
    ]


def test_unsupported_trl_version_leaves_trl_unchanged(monkeypatch, capsys):
    calls = []
    module = _fake_cli(calls)
    original = module.main
    monkeypatch.setattr(trl_hook, "trl_version", lambda: "1.17.0")
    assert trl_hook._wrap(module) is False
    assert module.main is original
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trl 1.17.0 is not the 1.16.x series" in err


def test_launcher_import_failure_falls_back_to_trl(monkeypatch, capsys):
    calls = []
    module = _fake_cli(calls)
    monkeypatch.setattr(trl_hook, "trl_version", lambda: "1.16.0")
    trl_hook._wrap(module)
    monkeypatch.setitem(sys.modules, "avem_plugins.launch.launcher", None)  # import fails
    assert module.main(["dpo", "--recipe", "avem"]) == 0
    assert calls == [("trl", ["dpo", "--recipe", "avem"])]
    assert "running TRL unchanged" in capsys.readouterr().err


def test_finder_wraps_the_real_module_on_import(monkeypatch):
    """Import a fresh copy of trl.cli.main through the finder and check it is wrapped."""
    import importlib

    import trl.cli

    monkeypatch.setattr(trl.cli, "main", trl.cli.main)  # the import below rebinds it
    monkeypatch.delitem(sys.modules, trl_hook.TARGET, raising=False)  # restored afterwards
    trl_hook.after_import(trl_hook.TARGET, trl_hook._wrap, trl_hook._failed)
    module = importlib.import_module(trl_hook.TARGET)
    try:
        assert getattr(module.main, "__avem_recipe_hook__", False)
        assert module.main.__wrapped__.__module__ == "trl.cli.main"
        assert not trl_hook.installed()  # one-shot: it removed itself
    finally:
        sys.modules.pop(trl_hook.TARGET, None)


def test_installed_pth_line_is_cheap_and_safe():
    """The shipped line does nothing unless argv[1] is dpo and --recipe is present."""
    from avem_plugins.doctor import find_trl_hook_pth

    pth = find_trl_hook_pth()
    assert pth is not None
    (line,) = [x for x in pth.read_text().splitlines() if x.strip()]
    assert line.startswith("import ")  # site.py executes only lines starting with import
    seen = []
    fake = types.ModuleType("avem_plugins.launch.trl_hook")
    fake.activate = lambda: seen.append(True)
    saved = sys.argv
    try:
        sys.modules["avem_plugins.launch.trl_hook"] = fake
        for argv, expected in [
            (["python", "x"], []),
            (["trl", "dpo", "--beta", "1"], []),
            (["trl", "dpo", "--recipe", "avem"], [True]),
        ]:
            seen.clear()
            sys.argv = argv
            exec(line, {})
            assert seen == expected, argv
    finally:
        sys.argv = saved
        sys.modules["avem_plugins.launch.trl_hook"] = trl_hook
