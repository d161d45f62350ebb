"""Read our task YAMLs without lmms-eval: ``!function`` targets kept as dotted names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TASKS_DIR = Path(__file__).resolve().parents[3] / "tasks"


class FunctionRef(str):
    """The dotted target of a ``!function`` tag."""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor(
    "!function", lambda loader, node: FunctionRef(loader.construct_scalar(node))
)


def load(path: Path) -> dict[str, Any]:
    """A task config with its ``include`` chain merged as lmms-eval does: the including
    file wins, and of a list of includes the first listed wins."""
    with open(path, encoding="utf-8") as handle:
        config = yaml.load(handle, Loader=_Loader)
    include = config.pop("include", None)
    if include is None:
        return config
    merged: dict[str, Any] = {}
    for name in reversed([include] if isinstance(include, str) else list(include)):
        merged.update(load(path.parent / name))
    merged.update(config)
    return merged


def default_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """``lmms_eval_specific_kwargs.default``, what lmms-eval passes for our model."""
    return dict((config.get("lmms_eval_specific_kwargs") or {}).get("default") or {})
