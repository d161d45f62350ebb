"""The checks behind `avem doctor` (library level, environment faked where needed)."""

from __future__ import annotations

import types
from importlib import metadata

import pytest

from avem_plugins import doctor
from avem_plugins.launch import trl_hook


def test_versions_against_our_requirements(monkeypatch):
    monkeypatch.setattr(doctor, "_requirements", lambda: {"filelock": "<4", "torch": ">=2.4"})
    installed = {"filelock": "4.0.1", "torch": "2.14.1"}

    def fake_version(name):
        if name not in installed:
            raise metadata.PackageNotFoundError(name)
        return installed[name]

    monkeypatch.setattr(doctor.metadata, "version", fake_version)
    checks = {c.name: c for c in doctor.check_versions(["filelock", "torch", "peft"])}
    assert checks["torch"].status == "ok" and checks["torch"].detail == "2.14.1 (needs >=2.4)"
    assert checks["filelock"].broken and "breaks every lmms-eval 0.7.3" in checks["filelock"].detail
    assert checks["peft"].broken and "not installed" in checks["peft"].detail


def test_our_requirements_are_read_from_the_installed_metadata():
    reqs = doctor._requirements()
    assert reqs["filelock"] == "<4"
    assert reqs["trl"].startswith(("<1.17", ">=1.16"))
    assert "lm-eval" not in reqs  # extras are not required


def test_media_roots(tmp_path):
    env = {"DFEW_ROOT": str(tmp_path), "RAVDESS_ROOT": str(tmp_path / "missing")}
    checks = {c.name: c for c in doctor.check_media_roots(env)}
    assert set(checks) == set(doctor.MEDIA_ENV_VARS)
    assert checks["DFEW_ROOT"].status == "ok"
    assert (
        checks["RAVDESS_ROOT"].status == "warn"
        and "does not exist" in checks["RAVDESS_ROOT"].detail
    )
    assert checks["EMER_ROOT"].status == "info" and checks["EMER_ROOT"].detail == "not set"
    assert not any(c.broken for c in checks.values())


def test_trl_hook_check(tmp_path, monkeypatch):
    monkeypatch.delenv(trl_hook.ENV_VAR, raising=False)
    missing = doctor.check_trl_hook([tmp_path])
    assert missing.broken and trl_hook.PTH_NAME in missing.detail

    (tmp_path / trl_hook.PTH_NAME).write_text("import sys; avem_plugins.launch.trl_hook\n")
    monkeypatch.setattr(doctor.metadata, "version", lambda name: "1.16.0")
    assert doctor.check_trl_hook([tmp_path]).status == "ok"

    monkeypatch.setenv(trl_hook.ENV_VAR, "0")
    disabled = doctor.check_trl_hook([tmp_path])
    assert disabled.status == "warn" and not disabled.broken

    monkeypatch.delenv(trl_hook.ENV_VAR)
    monkeypatch.setattr(doctor.metadata, "version", lambda name: "1.17.0")
    assert doctor.check_trl_hook([tmp_path]).broken


def test_the_dev_install_has_the_trl_hook():
    assert doctor.find_trl_hook_pth() is not None


def test_lmms_eval_hook(monkeypatch):
    def eps(loads):
        ep = types.SimpleNamespace(name="avem", value="pkg:manifests", load=loads)
        return lambda group: [ep] if group == "lmms_eval.models" else []

    monkeypatch.setattr(doctor.metadata, "entry_points", eps(lambda: lambda: []))
    assert doctor.check_lmms_eval_hook().status == "ok"

    def boom():
        raise ImportError("nope")

    monkeypatch.setattr(doctor.metadata, "entry_points", eps(boom))
    assert doctor.check_lmms_eval_hook().broken
    monkeypatch.setattr(doctor.metadata, "entry_points", lambda group: [])
    assert "not installed" in doctor.check_lmms_eval_hook().detail


@pytest.mark.parametrize("fails", [False, True])
def test_run_checks_collects_every_check(monkeypatch, fails):
    monkeypatch.setattr(doctor, "check_versions", lambda: [doctor.Check("torch", "ok", "x")])
    status = "fail" if fails else "ok"
    monkeypatch.setattr(doctor, "check_torch_pair", lambda: doctor.Check("pair", status, "y"))
    for name in ("check_plugins", "check_recipes", "check_lmms_eval_hook", "check_trl_hook"):
        monkeypatch.setattr(doctor, name, lambda n=name: doctor.Check(n, "ok", ""))
    checks = doctor.run_checks()
    names = [c.name for c in checks]
    assert names[:3] == ["python", "torch", "pair"]
    assert names[-len(doctor.MEDIA_ENV_VARS) :] == list(doctor.MEDIA_ENV_VARS)
    assert any(c.broken for c in checks) is fails
