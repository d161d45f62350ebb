"""``avem tasks-dir`` prints the folders for --include_path."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from avem_plugins.cli.main import app

TASKS = Path(__file__).resolve().parents[3] / "tasks"


def test_tasks_dir_for_lmms_eval():
    result = CliRunner().invoke(app, ["tasks-dir"])
    assert result.exit_code == 0, result.output
    folder = Path(result.stdout.strip())
    assert folder.resolve() == TASKS.resolve()
    assert (folder / "emorealm" / "emorealm.yaml").is_file()


def test_tasks_dir_for_lm_eval():
    result = CliRunner().invoke(app, ["tasks-dir", "--harness", "lm-eval"])
    assert result.exit_code == 0, result.output
    folder = Path(result.stdout.strip())
    assert (folder / "ravdess_audio_lmeval.yaml").is_file()


def test_tasks_dir_all_lists_registered_folders():
    result = CliRunner().invoke(app, ["tasks-dir", "--all"])
    assert result.exit_code == 0, result.output
    assert str(TASKS.resolve()) in result.stdout.splitlines()


def test_legacy_plugin_table_is_light():
    import avem_plugins.models as legacy

    assert legacy.AVAILABLE_MODELS == {"avem_av": "AvemAVSimple"}
