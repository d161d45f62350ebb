"""`avem dpo` only parses and calls the launcher (fastapi-cli style: assert the call)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from avem_plugins.cli.main import app
from avem_plugins.launch import launcher as launch

runner = CliRunner()


@pytest.fixture
def calls(monkeypatch):
    recorded = []

    def fake_launch(argv, *, prog="avem dpo", runner=None):
        recorded.append((list(argv), prog))
        return 0

    monkeypatch.setattr(launch, "launch", fake_launch)
    return recorded


def test_dpo_passes_recipe_and_every_other_flag_in_order(calls):
    result = runner.invoke(
        app,
        [
            "dpo",
            "--recipe",
            "avem-tiny",
            "--model_name_or_path",
            "DIR",
            "--dataset_name",
            "prefs.jsonl",
            "--max_steps",
            "2",
            "--use_peft",
            "--config",
            "cfg.yaml",
            "--num_processes",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert calls == [
        (
            [
                "--recipe",
                "avem-tiny",
                "--model_name_or_path",
                "DIR",
                "--dataset_name",
                "prefs.jsonl",
                "--max_steps",
                "2",
                "--use_peft",
                "--config",
                "cfg.yaml",
                "--num_processes",
                "1",
            ],
            "avem dpo",
        )
    ]


def test_dpo_recipe_equals_form_and_no_recipe(calls):
    assert runner.invoke(app, ["dpo", "--recipe=avem", "--beta", "0.2"]).exit_code == 0
    assert runner.invoke(app, ["dpo", "--beta", "0.2", "--output_dir", "o"]).exit_code == 0
    assert calls == [
        (["--recipe", "avem", "--beta", "0.2"], "avem dpo"),
        (["--beta", "0.2", "--output_dir", "o"], "avem dpo"),
    ]


def test_dpo_short_help_goes_to_the_trl_parser(calls):
    assert runner.invoke(app, ["dpo", "--recipe", "avem", "-h"]).exit_code == 0
    assert calls == [(["--recipe", "avem", "-h"], "avem dpo")]


def test_dpo_exit_code_is_the_launchers(monkeypatch):
    monkeypatch.setattr(launch, "launch", lambda argv, prog="avem dpo": 2)
    assert runner.invoke(app, ["dpo", "--recipe", "nope"]).exit_code == 2
