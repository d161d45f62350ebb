"""Build step that installs ``avem_trl_hook.pth`` next to the package (all metadata: pyproject).

The ``.pth`` line makes ``trl dpo --recipe NAME`` work right after ``pip install`` (TRL's CLI
has no extension point; see ``avem_plugins/trl_hook.py``). At every interpreter start it only
looks at ``sys.argv`` (``argv[1] == "dpo"`` and ``--recipe`` present: about 25 microseconds);
the real checks (``trl`` program, TRL version, ``AVEM_TRL_HOOK=0``) run only when that
matches, and any failure prints one line and leaves TRL unchanged.

setuptools has no declarative way to put a file at the root of site-packages, so ``build_py``
writes it: into ``build_lib`` for wheels, and, for editable installs (PEP 660), also into the
editable wheel's install folder, because ``editable_wheel`` ships only that folder's files
besides its own finder.

Building never writes into the source tree: ``build/`` and ``avem_plugins.egg-info/`` (which
``pip wheel .``, ``pip install .`` and ``python -m build`` would otherwise leave in the
checkout) go to a scratch folder removed when the build process ends.
tests/integration/test_packaging.py checks the checkout is unchanged after each build.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from setuptools import setup
from setuptools.command.build import build
from setuptools.command.build_py import build_py
from setuptools.command.egg_info import egg_info

PTH_NAME = "avem_trl_hook.pth"
PTH_LINE = (
    'import sys; exec("try:\\n from avem_plugins.launch.trl_hook import activate\\n activate()\\n'
    "except Exception as e:\\n print('avem: trl --recipe hook not loaded (%r); running TRL "
    "unchanged' % (e,), file=sys.stderr)\") if getattr(sys, 'argv', [])[1:2] == ['dpo'] and '--recipe' in str(sys.argv) else None"
)


_scratch: list[str] = []


def scratch(name: str) -> str:
    """A folder outside the source tree for build outputs, removed at exit."""
    if not _scratch:
        _scratch.append(tempfile.mkdtemp(prefix="avem-build-"))
        atexit.register(shutil.rmtree, _scratch[0], True)
    path = os.path.join(_scratch[0], name)
    os.makedirs(path, exist_ok=True)
    return path


class BuildOutsideTree(build):
    """``build`` whose default ``build_base`` is a scratch folder, not ``./build``."""

    def initialize_options(self) -> None:
        super().initialize_options()
        self.build_base = scratch("build")


class EggInfoOutsideTree(egg_info):
    """``egg_info`` writing ``avem_plugins.egg-info`` to a scratch folder, not the checkout.

    (``dist_info``, used for PEP 517 metadata and editable installs, sets its own folder.)
    """

    def initialize_options(self) -> None:
        super().initialize_options()
        self.egg_base = scratch("egg-info")


class BuildPyWithPth(build_py):
    """``build_py`` that also writes :data:`PTH_NAME` at the root of the built package tree."""

    def run(self) -> None:
        super().run()
        targets = [self.build_lib]
        if getattr(self, "editable_mode", False):
            targets.append(self.get_finalized_command("install").install_lib)
        for folder in targets:
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, PTH_NAME), "w", encoding="utf-8") as fh:
                fh.write(PTH_LINE + "\n")

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, PTH_NAME)]


setup(
    cmdclass={"build": BuildOutsideTree, "build_py": BuildPyWithPth, "egg_info": EggInfoOutsideTree}
)
