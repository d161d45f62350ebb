"""The plugin core: loading, allow/block lists, check_pending, duplicate adapters."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from avem_plugins import modality
from avem_plugins import registry as adapters
from avem_plugins import registry as plugins
from avem_plugins.hookspecs import hookimpl


@pytest.fixture
def fresh_plugins(monkeypatch):
    """A clean plugin manager before and after the test."""
    monkeypatch.delenv("AVEM_PLUGINS", raising=False)
    monkeypatch.delenv("AVEM_BLOCK_PLUGINS", raising=False)
    plugins.reset_plugins()
    yield plugins
    plugins.reset_plugins()


def test_builtins_load_once(fresh_plugins):
    pm = fresh_plugins.load_plugins()
    names = {pm.get_name(p) for p in pm.get_plugins()}
    assert set(plugins.DEFAULT_PLUGINS) <= names
    before = len(pm.get_plugins())
    assert fresh_plugins.load_plugins() is pm
    assert len(pm.get_plugins()) == before


def test_allow_list(fresh_plugins, monkeypatch):
    monkeypatch.setenv("AVEM_PLUGINS", "builtin_dirs")
    pm = fresh_plugins.load_plugins()
    assert [pm.get_name(p) for p in pm.get_plugins()] == ["builtin_dirs"]


def test_empty_allow_list_loads_nothing(fresh_plugins, monkeypatch):
    monkeypatch.setenv("AVEM_PLUGINS", "")
    assert fresh_plugins.load_plugins().get_plugins() == set()


def test_block_list(fresh_plugins, monkeypatch):
    monkeypatch.setenv("AVEM_BLOCK_PLUGINS", "builtin_dirs, hf_generic")
    pm = fresh_plugins.load_plugins()
    names = {pm.get_name(p) for p in pm.get_plugins()}
    assert "builtin_dirs" not in names and "hf_generic" not in names
    assert "qwen2_5_omni" in names


def test_misspelled_hook_fails_loudly(fresh_plugins, monkeypatch):
    bad = types.ModuleType("bad_plugin")

    @hookimpl
    def avem_register_model_adapter(register):  # missing "s": no such hook
        pass

    bad.avem_register_model_adapter = avem_register_model_adapter
    fresh_plugins.pm.register(bad, name="bad_plugin")
    with pytest.raises(Exception, match="avem_register_model_adapter"):
        fresh_plugins.load_plugins()


def test_duplicate_adapter_names_are_reported(fresh_plugins):
    class A(adapters.ModelAdapter):
        name = "qwen2_5_omni"

        def load(self, *a, **k):  # pragma: no cover - never called
            raise NotImplementedError

        generation_inputs = training_rows = load

    dup = types.ModuleType("dup_plugin")

    @hookimpl
    def avem_register_model_adapters(register):
        register(A)

    dup.avem_register_model_adapters = avem_register_model_adapters
    fresh_plugins.load_plugins()
    fresh_plugins.pm.register(dup, name="dup_plugin")
    with pytest.raises(adapters.AdapterError, match="two plugins register an adapter named"):
        adapters.available_adapters()


def test_register_rejects_non_adapters(fresh_plugins):
    odd = types.ModuleType("odd_plugin")

    @hookimpl
    def avem_register_model_adapters(register):
        register(object)

    odd.avem_register_model_adapters = avem_register_model_adapters
    fresh_plugins.load_plugins()
    fresh_plugins.pm.register(odd, name="odd_plugin")
    with pytest.raises(adapters.AdapterError, match="not a ModelAdapter subclass"):
        adapters.available_adapters()


def test_builtin_dirs_registers_shipped_folders(fresh_plugins):
    pm = fresh_plugins.load_plugins()
    tasks: list[Path] = []
    recipes: list[Path] = []
    pm.hook.avem_register_task_dirs(register=tasks.append)
    pm.hook.avem_register_recipe_dirs(register=recipes.append)
    import avem_plugins.recipes
    import avem_plugins.tasks

    assert Path(avem_plugins.tasks.__file__).parent in tasks
    assert Path(avem_plugins.recipes.__file__).parent in recipes


def test_describe_plugins_lists_hooks(fresh_plugins):
    rows = {r["name"]: r for r in fresh_plugins.describe_plugins()}
    assert rows["builtin_dirs"]["builtin"] is True
    assert rows["builtin_dirs"]["hooks"] == ["avem_register_recipe_dirs", "avem_register_task_dirs"]


def test_unknown_adapter_name_error_lists_installed(fresh_plugins):
    with pytest.raises(adapters.AdapterError, match=r"no model adapter named 'nope'.*installed"):
        adapters.get_adapter("nope")


def test_parse_modalities():
    assert modality.parse_modalities("av") == {"video", "audio"}
    assert modality.parse_modalities("text") == frozenset()
    assert modality.parse_modalities("audio,video") == {"video", "audio"}
    with pytest.raises(modality.ModalityError, match="unknown modalities"):
        modality.parse_modalities("smell")
