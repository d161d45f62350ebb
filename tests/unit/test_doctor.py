"""The checks behind `avem doctor` (library level, environment faked where needed)."""

from __future__ import annotations

import types
from importlib import metadata

import pytest
from packaging.specifiers import SpecifierSet

from avem_plugins import doctor, extras
from avem_plugins.launch import trl_hook


def test_versions_against_our_requirements(monkeypatch):
    core = {"filelock": "<4", "torch": ">=2.4", "pyyaml": ">=6"}
    monkeypatch.setattr(
        doctor,
        "_requirements",
        lambda extras_too=False: {**core, "peft": ">=0.17"} if extras_too else core,
    )
    installed = {"filelock": "4.0.1", "torch": "2.14.1"}

    def fake_version(name):
        if name not in installed:
            raise metadata.PackageNotFoundError(name)
        return installed[name]

    monkeypatch.setattr(doctor.metadata, "version", fake_version)
    checks = {c.name: c for c in doctor.check_versions(["filelock", "torch", "peft", "pyyaml"])}
    assert checks["torch"].status == "ok" and checks["torch"].detail == "2.14.1 (needs >=2.4)"
    assert checks["filelock"].broken and "breaks every lmms-eval 0.7.3" in checks["filelock"].detail
    # a core requirement missing is broken; one only an extra brings is informational
    assert checks["pyyaml"].broken and "not installed" in checks["pyyaml"].detail
    assert checks["peft"].status == "info" and not checks["peft"].broken


def test_our_requirements_are_read_from_the_installed_metadata():
    core = doctor._requirements()
    assert SpecifierSet(core["filelock"]) == SpecifierSet(">=3.15.3,<4")
    # the hosts are extras: not in the core, read with extras_too
    assert not {"trl", "lmms-eval", "lm-eval", "transformers", "torch"} & set(core)
    every = doctor._requirements(extras_too=True)
    assert SpecifierSet(every["trl"]) == SpecifierSet(">=1.16,<1.17")
    assert SpecifierSet(every["transformers"]) == SpecifierSet(extras.TRANSFORMERS_SPEC)
    assert "matplotlib" in every and "lm-eval" in every


def test_a_missing_extra_is_reported_not_failed(monkeypatch):
    monkeypatch.setattr(extras, "module_present", lambda m: m not in {"trl", "matplotlib"})
    checks = {c.name: c for c in doctor.check_extras()}
    assert list(checks) == ["[lmms-eval]", "[trl]", "[lm-eval]", "[report]"]
    assert checks["[lmms-eval]"].status == "ok"
    assert checks["[trl]"].status == "info" and not checks["[trl]"].broken
    assert "pip install 'avem-plugins[trl]'" in checks["[trl]"].detail
    assert "matplotlib" in checks["[report]"].detail
    trl_hook_check = doctor.check_trl_hook()
    assert trl_hook_check.status == "info" and not trl_hook_check.broken


def test_an_extra_package_not_installed_is_informational(monkeypatch):
    def fake_version(name):
        if name in {"trl", "peft"}:
            raise metadata.PackageNotFoundError(name)
        return {"filelock": "3.20.0", "transformers": "5.24.0"}.get(name, "99.0")

    monkeypatch.setattr(doctor.metadata, "version", fake_version)
    checks = {c.name: c for c in doctor.check_versions(["filelock", "transformers", "trl"])}
    assert checks["trl"].status == "info" and not checks["trl"].broken
    assert checks["filelock"].status == "ok" and checks["transformers"].status == "ok"


def test_transformers_4_fails_with_the_requirement(monkeypatch):
    monkeypatch.setattr(
        doctor.metadata, "version", lambda n: "4.57.1" if n == "transformers" else "3.20.0"
    )
    check = {c.name: c for c in doctor.check_versions(["transformers"])}["transformers"]
    assert check.broken
    assert check.detail.startswith("4.57.1 (needs ")
    assert "transformers>=5.23,<6" in check.detail and "major upgrade" in check.detail


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
    monkeypatch.setattr(
        doctor, "check_extras", lambda: [doctor.Check("[trl]", "info", "missing", False)]
    )
    status = "fail" if fails else "ok"
    monkeypatch.setattr(doctor, "check_torch_pair", lambda: doctor.Check("pair", status, "y"))
    for name in ("check_plugins", "check_recipes", "check_lmms_eval_hook", "check_trl_hook"):
        monkeypatch.setattr(doctor, name, lambda n=name: doctor.Check(n, "ok", ""))
    checks = doctor.run_checks()
    names = [c.name for c in checks]
    assert names[:4] == ["python", "[trl]", "torch", "pair"]
    assert names[-len(doctor.MEDIA_ENV_VARS) :] == list(doctor.MEDIA_ENV_VARS)
    assert any(c.broken for c in checks) is fails
