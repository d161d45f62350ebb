"""Every shipped task folder: YAML shape, resolvable functions, README, version."""

from __future__ import annotations

import importlib

import pytest
from task_yaml import TASKS_DIR, FunctionRef, default_kwargs, load

LMMS_FOLDERS = ["emorealm", "dfew", "ravdess", "emer", "mer2023"]
TEMPLATES = sorted(p for f in LMMS_FOLDERS for p in (TASKS_DIR / f).glob("_*_yaml"))
TASK_YAMLS = sorted(p for f in LMMS_FOLDERS for p in (TASKS_DIR / f).glob("*.yaml"))
ALL_CONFIGS = TEMPLATES + TASK_YAMLS + sorted((TASKS_DIR / "lm_eval").glob("*.yaml"))


def _refs(value):
    if isinstance(value, FunctionRef):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from _refs(v)


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_function_reference_is_absolute_and_resolves(path):
    refs = list(_refs(load(path)))
    for ref in refs:
        assert ref.startswith("avem_plugins.tasks."), (
            f"{path.name}: use the absolute form, got {ref}"
        )
        module, _, name = ref.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name)), ref


@pytest.mark.parametrize("path", TASK_YAMLS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_task_yamls_are_tiny_and_versioned(path):
    raw = path.read_text(encoding="utf-8")
    config = load(path)
    if "group" in config:
        assert isinstance(config["task"], list) and config["metadata"]["version"]
        return
    assert config["task"] == path.stem
    assert "include" in raw, "a subtask YAML only includes the template and sets what differs"
    own_keys = {
        line.split(":")[0] for line in raw.splitlines() if line and not line.startswith(("#", " "))
    }
    assert own_keys <= {"task", "include", "process_docs"}, own_keys
    assert config["metadata"]["version"]
    assert config["metric_list"], "metrics come from the template"
    assert config["dataset_path"] == "json" and "video" not in (config.get("dataset_kwargs") or {})
    data_file = (path.parent / config["dataset_kwargs"]["data_files"]).resolve()
    assert data_file.is_file(), f"placeholder data file {data_file} is missing"


@pytest.mark.parametrize("folder", [*LMMS_FOLDERS, "lm_eval"])
def test_each_folder_has_a_readme_with_the_required_sections(folder):
    text = (TASKS_DIR / folder / "README.md").read_text(encoding="utf-8").lower()
    assert "## changelog" in text and "- 1.0" in text
    if folder != "lm_eval":
        for section in (
            "paper",
            "protocol",
            "data you bring",
            "## metrics",
            "ravdess_root" if folder == "ravdess" else "_root",
        ):
            assert section in text, f"{folder}/README.md lacks {section!r}"


def test_emorealm_group_lists_the_five_subtasks_and_averages_unweighted():
    group = load(TASKS_DIR / "emorealm" / "emorealm.yaml")
    assert group["task"] == [
        "emorealm_reasoning_basic_audio",
        "emorealm_reasoning_basic_video",
        "emorealm_modality_agreement",
        "emorealm_reasoning_stress_audio",
        "emorealm_reasoning_stress_video",
    ]
    assert group["aggregate_metric_list"] == [
        {"metric": "accuracy", "aggregation": "mean", "weight_by_size": False}
    ]
    for name in group["task"]:
        assert (TASKS_DIR / "emorealm" / f"{name}.yaml").is_file()


def test_group_metric_name_matches_only_the_accuracy():
    # lmms-eval 0.7.3 aggregates every subtask metric whose name *contains* the group's
    # metric name: no other metric may contain "accuracy"
    for path in (TASKS_DIR / "emorealm").glob("emorealm_*.yaml"):
        if "group" in load(path):
            continue
        names = [m["metric"] for m in load(path)["metric_list"]]
        assert [n for n in names if "accuracy" in n] == ["accuracy"], path.name


def test_task_names_are_unique_across_harness_folders():
    names = [load(p).get("task") for p in TASK_YAMLS if "group" not in load(p)]
    lm_names = [load(p)["task"] for p in (TASKS_DIR / "lm_eval").glob("*.yaml")]
    assert len(set(names)) == len(names)
    assert not set(names) & set(lm_names)


# --- the paper's protocol (issue 15) -----------------------------------------------------

PAPER_TASKS = [
    p
    for p in TASK_YAMLS
    if p.parent.name in ("emorealm", "dfew", "ravdess", "mer2023")
    and "group" not in load(p)
    and "instructed" not in p.stem
]


def test_the_paper_tasks_are_there():
    names = {p.stem for p in PAPER_TASKS}
    assert {"emorealm_reasoning_basic_audio", "dfew", "dfew_fold5", "ravdess"} <= names
    assert {"ravdess_audio", "ravdess_8class", "mer2023"} <= names


@pytest.mark.parametrize("path", PAPER_TASKS, ids=lambda p: p.stem)
def test_paper_tasks_generate_five_tokens_greedily_with_no_stop_string(path):
    config = load(path)
    assert config["generation_kwargs"] == {
        "max_new_tokens": 5, "until": [], "temperature": 0, "do_sample": False,
    }  # fmt: skip
    assert default_kwargs(config) == {"pre_prompt": "", "post_prompt": ""}
    assert str(config["metadata"]["version"]) == "2.0"
    assert "answer_parser_note" in [m["metric"] for m in config["metric_list"]]


def test_emorealm_instructed_is_the_emorealm_group_with_the_instruction():
    folder = TASKS_DIR / "emorealm"
    group, paper = load(folder / "emorealm_instructed.yaml"), load(folder / "emorealm.yaml")
    assert group["group"] == "emorealm_instructed"
    assert group["task"] == [t.replace("emorealm_", "emorealm_instructed_") for t in paper["task"]]
    assert group["aggregate_metric_list"] == paper["aggregate_metric_list"]
    for name in paper["task"]:
        inst = load(folder / f"{name.replace('emorealm_', 'emorealm_instructed_')}.yaml")
        base = load(folder / f"{name}.yaml")
        assert default_kwargs(inst)["post_prompt"] == (
            "\nAnswer with the option's letter from the given choices directly."
        )
        assert inst["generation_kwargs"]["max_new_tokens"] == 32
        differing = {k for k in base.keys() | inst.keys() if base.get(k) != inst.get(k)}
        assert differing == {"task", "generation_kwargs", "lmms_eval_specific_kwargs"}, name
