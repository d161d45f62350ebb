"""Our task-loading errors: in the order a user needs them, no retries, a failing exit status.

The wrap is tested on a stand-in task class decorated with tenacity's ``@retry`` exactly as
lmms-eval 0.7.3 decorates ``ConfigurableTask.download``; the lmms-eval CLI frame is a
function named ``cli_evaluate_single`` in a module namespace named ``lmms_eval.__main__``.
The real CLI (slow): tests/reliability/test_bad_inputs_lmms.py::test_cli_prints_our_error_for_a_bad_questions_file.
"""

from __future__ import annotations

import sys
import time

import pytest
from avem_plugins.tasks.emorealm import utils as emorealm
from tenacity import RetryError, retry, stop_after_attempt, stop_after_delay, wait_fixed

from avem_plugins import importhook
from avem_plugins.lmms import discovery, entrypoint, failures
from avem_plugins.scoring.taskdata import TaskDataError


class StandInTask:
    """``download`` decorated as lmms-eval's, raising what ``error`` says."""

    error: BaseException | None = None
    calls = 0

    @retry(stop=(stop_after_attempt(5) | stop_after_delay(60)), wait=wait_fixed(0.01))
    def download(self, dataset_kwargs=None):
        type(self).calls += 1
        if self.error is not None:
            raise self.error
        return "loaded"


@pytest.fixture
def task(monkeypatch):
    monkeypatch.delenv(failures.DISABLE_ENV, raising=False)
    monkeypatch.delenv("VERBOSITY", raising=False)
    own = {"calls": 0, "error": None, "download": StandInTask.__dict__["download"]}
    cls = type("Task", (StandInTask,), own)
    assert failures.wrap_download(cls)
    assert not failures.wrap_download(cls)  # idempotent
    return cls


CLI = {"__name__": failures.CLI_MODULE}
exec("def cli_evaluate_single(run):\n    return run()\n", CLI)  # a frame like lmms-eval's CLI


def test_our_error_is_raised_at_the_first_attempt(task):
    task.error = TaskDataError("EMOREALM_JSON is not set")
    with pytest.raises(TaskDataError, match="EMOREALM_JSON"):
        task().download()
    assert task.calls == 1


def test_other_errors_are_retried_as_before(task):
    task.error = OSError("hub down")
    with pytest.raises(RetryError):
        task().download()
    assert task.calls == 5
    task.error, task.calls = None, 0
    assert task().download() == "loaded" and task.calls == 1


def test_a_wrapped_error_of_ours_is_found_through_its_cause(task):
    try:
        raise TaskDataError("DFEW_ROOT is not set")
    except TaskDataError as inner:
        outer = ValueError("process_docs failed")
        outer.__cause__ = inner
    task.error = outer
    with pytest.raises(ValueError):
        task().download()
    assert task.calls == 1


def test_in_the_cli_our_error_exits_1_with_one_line(task, capsys):
    task.error = TaskDataError("EMOREALM_JSON=/nonexistent is not an existing file")
    with pytest.raises(SystemExit) as exit_:
        CLI["cli_evaluate_single"](lambda: task().download())
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err == "avem: TaskDataError: EMOREALM_JSON=/nonexistent is not an existing file\n"


def test_in_the_cli_other_errors_are_left_to_lmms_eval(task):
    task.error = OSError("hub down")
    with pytest.raises(RetryError):  # lmms-eval's own `except Exception` handles it
        CLI["cli_evaluate_single"](lambda: task().download())


def test_debug_verbosity_and_the_switch_keep_the_exception(task, monkeypatch):
    task.error = TaskDataError("x")
    monkeypatch.setenv("VERBOSITY", "DEBUG")
    with pytest.raises(TaskDataError):
        CLI["cli_evaluate_single"](lambda: task().download())
    monkeypatch.delenv("VERBOSITY")
    monkeypatch.setenv(failures.DISABLE_ENV, "0")
    task.calls = 0
    with pytest.raises(RetryError):  # off: lmms-eval's behaviour, retries included
        CLI["cli_evaluate_single"](lambda: task().download())
    assert task.calls == 5


def test_ours_only_matches_our_classes():
    assert failures.ours(TaskDataError("x")) is not None
    assert failures.ours(RuntimeError("x")) is None
    assert failures.ours(None) is None


def test_install_defers_then_wraps(monkeypatch):
    monkeypatch.delitem(sys.modules, failures.TASK_MODULE, raising=False)
    monkeypatch.setattr(failures._PATCH, "hook", None)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    assert failures.install() == "deferred"
    assert failures.install() == "deferred"
    assert len([f for f in sys.meta_path if isinstance(f, importhook.AfterImport)]) == 1
    module = type(sys)(failures.TASK_MODULE)
    module.ConfigurableTask = type(
        "CT", (StandInTask,), {"download": StandInTask.__dict__["download"]}
    )
    monkeypatch.setitem(sys.modules, failures.TASK_MODULE, module)
    assert failures.install() == "wrapped"
    assert getattr(module.ConfigurableTask.download, "__avem_failfast__", False)
    monkeypatch.setenv(failures.DISABLE_ENV, "off")
    assert failures.install() == "disabled"


def test_the_real_download_is_decorated_as_assumed():
    """If lmms-eval stops decorating download with tenacity, this says so."""
    from lmms_eval.api.task import ConfigurableTask

    download = ConfigurableTask.__dict__["download"]
    original = getattr(download, "__avem_original__", download)
    assert hasattr(original, "retry") and hasattr(original, "retry_with")


# --- `lmms-eval models` lists avem_av ------------------------------------------------------


def test_models_listing_gets_avem_av(monkeypatch):
    module = type(sys)("lmms_eval.models")
    module.AVAILABLE_CHAT_TEMPLATE_MODELS = {"qwen2_5_omni": "Qwen2_5_Omni"}
    module.AVAILABLE_SIMPLE_MODELS = {"avem_av": "kept.Theirs"}
    monkeypatch.setitem(sys.modules, "lmms_eval.models", module)
    assert entrypoint.list_in_models_command() == "ok: AVAILABLE_CHAT_TEMPLATE_MODELS"
    assert module.AVAILABLE_CHAT_TEMPLATE_MODELS["avem_av"] == entrypoint.CHAT_CLASS
    assert module.AVAILABLE_SIMPLE_MODELS["avem_av"] == "kept.Theirs"  # never overwritten
    monkeypatch.delitem(sys.modules, "lmms_eval.models")
    assert entrypoint.list_in_models_command().startswith("skipped")


def test_lmms_eval_models_command_lists_avem_av():
    import subprocess

    res = subprocess.run(
        [sys.executable, "-m", "lmms_eval", "models"],
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [line.split() for line in res.stdout.splitlines()]
    assert ["avem_av", "chat+simple"] in rows


def test_the_entry_point_installs_both(monkeypatch):
    monkeypatch.setattr(discovery, "install", lambda: "deferred")
    monkeypatch.setattr(failures, "install", lambda: "deferred")
    entrypoint.manifests()
    status = entrypoint.status()
    assert status["discovery"] == "deferred" and status["failures"] == "deferred"


# --- EmoReAlM: the questions file is checked before the clips folder -----------------------


def test_emorealm_names_the_questions_file_first(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOREALM_JSON", str(tmp_path / "nonexistent.json"))
    for var in ("DFEW_ROOT", "DFEW_AUDIO_ROOT", "LMMS_EVAL_MEDIA_ROOT", "AVEM_ANSWER_PARSER"):
        monkeypatch.delenv(var, raising=False)
    start = time.perf_counter()
    with pytest.raises(TaskDataError, match=r"^EMOREALM_JSON="):
        emorealm.build_docs("modality_agreement")
    assert time.perf_counter() - start < 5
