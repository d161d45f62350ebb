"""Zero-flag discovery: the TaskManager wrap (on a stand-in class) and the entry point."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from avem_plugins import importhook, registry
from avem_plugins.lmms import discovery, entrypoint, failures


class FakeTaskManager:
    """The two methods of lmms-eval's TaskManager that the wrap relies on."""

    def __init__(self, builtin: dict[str, dict]):
        self.builtin = builtin
        self.calls: list[tuple] = []
        self.warnings: list[str] = []
        self.logger = self

    def warning(self, message):
        self.warnings.append(message)

    def initialize_tasks(self, include_path=None, include_defaults=True):
        self.calls.append((include_path, include_defaults))
        index = dict(self.builtin) if include_defaults else {}
        for path in include_path or []:
            found = self._get_task_and_group(path)
            index = {**found, **index}  # earlier paths win, as in lmms-eval
        return index

    def _get_task_and_group(self, task_dir):
        return {
            p.stem: {"type": "task", "yaml_path": str(p)}
            for p in sorted(Path(task_dir).rglob("*.yaml"))
        }


@pytest.fixture
def ours(tmp_path, monkeypatch):
    folder = tmp_path / "ours"
    for name in ("alpha.yaml", "beta.yaml", "lm_eval/gamma_lmeval.yaml"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("task: x\n")
    monkeypatch.setattr(discovery, "task_dirs", lambda: [folder.resolve()])
    monkeypatch.delenv(discovery.DISABLE_ENV, raising=False)
    cls = type("TM", (FakeTaskManager,), {})
    discovery.wrap_initialize_tasks(cls)
    return folder.resolve(), cls


def test_adds_our_folder_after_the_user_paths(ours):
    folder, cls = ours
    tm = cls({"builtin_task": {"type": "task", "yaml_path": "/site/lmms_eval/tasks/b.yaml"}})
    index = tm.initialize_tasks(include_path="/user/dir")
    assert tm.calls == [(["/user/dir", str(folder)], True)]
    assert {"alpha", "beta", "builtin_task"} <= set(index)
    assert "gamma_lmeval" not in index  # lm-eval YAMLs stay out of lmms-eval's index
    assert tm.warnings == []


def test_idempotent_and_no_duplicate_path(ours):
    folder, cls = ours
    assert discovery.wrap_initialize_tasks(cls) is False
    tm = cls({})
    tm.initialize_tasks(include_path=[str(folder)])
    assert tm.calls == [([str(folder)], True)]


def test_builtin_shadowing_warns_and_builtin_wins(ours):
    _, cls = ours
    tm = cls({"alpha": {"type": "task", "yaml_path": "/site/lmms_eval/tasks/alpha.yaml"}})
    index = tm.initialize_tasks()
    assert index["alpha"]["yaml_path"] == "/site/lmms_eval/tasks/alpha.yaml"
    assert len(tm.warnings) == 1 and "'alpha'" in tm.warnings[0] and "shadowed" in tm.warnings[0]


def test_include_defaults_false_and_disable_switch(ours, monkeypatch):
    _, cls = ours
    tm = cls({})
    tm.initialize_tasks(include_path=["/x"], include_defaults=False)
    monkeypatch.setenv(discovery.DISABLE_ENV, "0")
    tm.initialize_tasks()
    assert tm.calls == [(["/x"], False), (None, True)]


def test_a_failing_plugin_never_breaks_lmms_eval(ours, monkeypatch):
    _, cls = ours

    def boom():
        raise RuntimeError("bad plugin")

    monkeypatch.setattr(discovery, "task_dirs", boom)
    tm = cls({"b": {"type": "task", "yaml_path": "/b.yaml"}})
    assert tm.initialize_tasks() == {"b": {"type": "task", "yaml_path": "/b.yaml"}}


def test_task_dirs_falls_back_to_our_folder_when_plugins_fail(monkeypatch):
    import avem_plugins.registry

    def broken():
        raise ImportError("a broken third-party plugin")

    monkeypatch.setattr(avem_plugins.registry, "load_plugins", broken)
    assert discovery.task_dirs() == [registry.builtin_task_dir()]
    assert (registry.builtin_task_dir() / "emorealm" / "emorealm.yaml").is_file()


def test_install_defers_until_lmms_eval_tasks_is_imported(monkeypatch):
    monkeypatch.delitem(sys.modules, discovery.TASKS_MODULE, raising=False)
    monkeypatch.setattr(discovery._PATCH, "hook", None)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    assert discovery.install() == "deferred"
    assert discovery.install() == "deferred"
    hooks = [f for f in sys.meta_path if isinstance(f, importhook.AfterImport)]
    assert len(hooks) == 1  # idempotent
    monkeypatch.setenv(discovery.DISABLE_ENV, "off")
    assert discovery.install() == "disabled"


def test_install_wraps_at_once_when_already_imported(monkeypatch):
    module = type(sys)("lmms_eval.tasks")
    module.TaskManager = type("TM", (FakeTaskManager,), {})
    monkeypatch.setitem(sys.modules, discovery.TASKS_MODULE, module)
    assert discovery.install() == "wrapped"
    assert getattr(module.TaskManager.initialize_tasks, "__avem_wrapped__", False)


def test_entry_point_never_raises(monkeypatch):
    def boom():
        raise ImportError("no lmms_eval here")

    monkeypatch.setattr(entrypoint, "build_manifests", boom)
    monkeypatch.setattr(discovery, "install", lambda: "deferred")
    monkeypatch.setattr(failures, "install", lambda: "deferred")
    assert entrypoint.manifests() == []
    assert entrypoint.status()["manifests"].startswith("failed: ImportError")


def test_entry_point_class_paths_are_strings():
    assert entrypoint.CHAT_CLASS == "avem_plugins.lmms.model.AvemAV"
    assert entrypoint.SIMPLE_CLASS == "avem_plugins.lmms.model.AvemAVSimple"
