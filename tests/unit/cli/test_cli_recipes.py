"""`avem recipes ls | show | cp | validate`: parse, call the library, print."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from avem_plugins.cli.main import app
from avem_plugins.launch import recipe as R

runner = CliRunner()


def test_ls_lists_every_registered_recipe():
    result = runner.invoke(app, ["recipes", "ls"])
    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names == list(R.available_recipes())
    assert "(base: avem)" in result.output


def test_ls_json():
    rows = json.loads(runner.invoke(app, ["recipes", "ls", "--json"]).output)
    assert {r["name"] for r in rows} == set(R.available_recipes())
    tiny = next(r for r in rows if r["name"] == "avem-tiny")
    assert tiny["base"] == "avem" and tiny["path"].endswith("avem-tiny.yaml")


def test_show_prints_the_file_and_resolved_prints_merged_args():
    result = runner.invoke(app, ["recipes", "show", "avem-tiny"])
    assert result.exit_code == 0
    assert result.output == R.available_recipes()["avem-tiny"].read_text()
    result = runner.invoke(app, ["recipes", "show", "avem-tiny", "--resolved"])
    assert yaml.safe_load(result.output) == R.load_recipe("avem-tiny").args


def test_show_unknown_name_exits_2():
    result = runner.invoke(app, ["recipes", "show", "no-such-recipe"])
    assert result.exit_code == 2
    assert "no recipe named 'no-such-recipe'" in result.output


def test_cp_calls_copy_recipe(tmp_path, monkeypatch):
    seen = []

    def fake_copy(name, dest):
        seen.append((name, dest))
        return dest / "x.yaml"

    monkeypatch.setattr(R, "copy_recipe", fake_copy)
    result = runner.invoke(app, ["recipes", "cp", "avem", str(tmp_path)])
    assert result.exit_code == 0
    assert seen == [("avem", tmp_path)]
    assert f"avem dpo --recipe {tmp_path / 'x.yaml'}" in result.output


def test_cp_really_copies(tmp_path):
    result = runner.invoke(app, ["recipes", "cp", "avem", str(tmp_path / "mine.yaml")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mine.yaml").read_text() == R.available_recipes()["avem"].read_text()
    again = runner.invoke(app, ["recipes", "cp", "avem", str(tmp_path / "mine.yaml")])
    assert again.exit_code == 2 and "exists" in again.output


def test_validate_defaults_to_every_recipe(monkeypatch):
    seen = []
    monkeypatch.setattr(R, "validate", lambda name: seen.append(name))
    result = runner.invoke(app, ["recipes", "validate"])
    assert result.exit_code == 0, result.output
    assert seen == list(R.available_recipes())
    assert result.output.count("ok ") == len(seen)


def test_validate_reports_failures_and_exits_1(tmp_path, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("recipe: {description: bad}\nbetaa: 1\n")
    result = runner.invoke(app, ["recipes", "validate", "avem-tiny", str(bad)])
    assert result.exit_code == 1
    assert "ok   avem-tiny" in result.output
    assert f"FAIL {bad}" in result.output and "unknown key 'betaa'" in result.output
    assert "1 of 2 recipes invalid" in result.output
