"""`import avem_plugins` and `avem --help` must not import the heavy stack."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "trl", "lmms_eval", "datasets", "peft", "accelerate")

PROBE = """
import sys
{code}
heavy = [m for m in {heavy!r} if m in sys.modules]
print(",".join(heavy))
"""


def _heavy_after(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code, heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return [m for m in out.split(",") if m]


def test_import_is_light():
    assert (
        _heavy_after("import avem_plugins, avem_plugins.registry, avem_plugins.adapters.base") == []
    )


def test_cli_help_is_light():
    code = (
        "from typer.testing import CliRunner\n"
        "from avem_plugins.cli.main import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'avem' in r.output.lower() or 'Usage' in r.output\n"
    )
    assert _heavy_after(code) == []


def test_console_script_help_runs():
    import shutil

    exe = shutil.which("avem") or str(__import__("pathlib").Path(sys.executable).with_name("avem"))
    res = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "plugins" in res.stdout
