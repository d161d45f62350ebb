"""`avem doctor`: prints every check; exit code 1 only when a required check fails."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from avem_plugins import doctor
from avem_plugins.cli.main import app

runner = CliRunner()


@pytest.fixture
def fake_checks(monkeypatch):
    checks = [
        doctor.Check("torch", "ok", "2.14.1 (needs >=2.4)"),
        doctor.Check("DFEW_ROOT", "warn", "/nope does not exist", required=False),
    ]
    monkeypatch.setattr(doctor, "run_checks", lambda: checks)
    return checks


def test_doctor_prints_checks_and_exits_0(fake_checks):
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["ok", "torch", "2.14.1", "(needs", ">=2.4)"]
    assert lines[1].split()[:2] == ["warn", "DFEW_ROOT"]


def test_doctor_exits_1_on_a_required_failure(fake_checks):
    fake_checks.append(doctor.Check("filelock", "fail", "4.0.0 (needs <4)"))
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "1 required check(s) failed: filelock" in result.output


def test_doctor_json(fake_checks):
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert rows[0] == {
        "name": "torch",
        "status": "ok",
        "detail": "2.14.1 (needs >=2.4)",
        "required": True,
    }
