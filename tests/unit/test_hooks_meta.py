"""Meta-tests (datasette's pattern): every hook is documented and tested."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from avem_plugins import hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(
    name
    for name, fn in vars(hookspecs).items()
    if name.startswith("avem_") and inspect.isfunction(fn)
)


def test_there_are_hooks():
    assert HOOKS, "no avem_* hookspecs found"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_signature(hook):
    doc = (ROOT / "docs" / "hooks.md").read_text()
    assert f"## {hook}(" in doc, f"docs/hooks.md has no heading for {hook}"
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"## {hook}({params})" in doc, f"docs/hooks.md heading for {hook} must show ({params})"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_tested(hook):
    tests = [
        p
        for p in (ROOT / "tests").rglob("test_*.py")
        if p.name != Path(__file__).name and re.search(rf"\b{hook}\b", p.read_text())
    ]
    assert tests, f"no test mentions {hook}"
