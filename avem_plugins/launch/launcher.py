"""The supported launcher behind ``avem dpo`` and ``trl dpo --recipe``.

It does what ``trl dpo`` does (``trl/cli/commands/training.py`` in TRL 1.16), with our trainer
and one extra flag:

1. ``--recipe NAME_OR_PATH`` is taken out of the arguments and the recipe's values become
   the parser's defaults. Precedence: command-line flags > ``--config FILE`` > recipe >
   the dataclasses' defaults.
2. The arguments are parsed by TRL's own ``TrlParser`` over ``(ScriptArguments,
   AVEmDPOConfig, ModelConfig)``, so ``--config``, ``-h`` and every DPO flag behave as in
   ``trl dpo``. Arguments the parser does not know go to ``accelerate launch``, and
   ``--accelerate_config NAME_OR_PATH`` becomes ``--config_file`` (names: our
   ``recipes/accelerate/NAME.yaml`` first, then TRL's). A recipe's
   ``recipe.accelerate_config`` is used when the command line gives none.
3. ``accelerate launch --module avem_plugins.launch.launcher ...`` starts the processes; each one
   parses the same arguments again (:func:`main`) and calls
   ``avem_plugins.dpo.train.main(script_args, training_args, model_args)``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avem_plugins.launch.recipe import Recipe, RecipeError, load_recipe, validate_recipe

#: The flag this launcher adds to ``trl dpo``'s.
RECIPE_FLAG = "--recipe"
#: The module ``accelerate launch --module`` runs in each process.
WORKER_MODULE = "avem_plugins.launch.launcher"


class LaunchError(ValueError):
    """The command line cannot be launched; the message says which flag to fix."""


@dataclass
class LaunchPlan:
    """What :func:`launch` hands to ``accelerate launch``."""

    recipe: Recipe | None
    script_args: Any
    training_args: Any
    model_args: Any
    launch_args: list[str]
    script_argv: list[str]

    def accelerate_argv(self) -> list[str]:
        """The full ``accelerate launch`` argument list (without ``accelerate launch``)."""
        return [*self.launch_args, "--module", WORKER_MODULE, *self.script_argv]


def has_recipe_flag(argv: Sequence[str]) -> bool:
    """Whether ``--recipe`` (or ``--recipe=...``) is among the arguments."""
    return any(a == RECIPE_FLAG or a.startswith(RECIPE_FLAG + "=") for a in argv)


def split_recipe(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """``(recipe, remaining arguments)``; ``--recipe`` may be given once."""
    recipe: str | None = None
    rest: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == RECIPE_FLAG or arg.startswith(RECIPE_FLAG + "="):
            if recipe is not None:
                raise LaunchError(f"{RECIPE_FLAG} given twice ({recipe!r} and more); give it once")
            if "=" in arg:
                recipe = arg.split("=", 1)[1]
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                recipe = args[i + 1]
                i += 1
            else:
                raise LaunchError(f"{RECIPE_FLAG} needs a value: a recipe name or a .yaml path")
            if not recipe:
                raise LaunchError(f"{RECIPE_FLAG} needs a value: a recipe name or a .yaml path")
        else:
            rest.append(arg)
        i += 1
    return recipe, rest


def make_parser(recipe: Recipe | None = None, prog: str | None = None) -> Any:
    """TRL's ``TrlParser`` over our dataclasses, with the recipe's values as defaults."""
    from trl import TrlParser

    from avem_plugins.launch.recipe import config_classes

    description = None
    if recipe is not None:
        description = (
            f"Recipe {recipe.name} ({recipe.path}): {recipe.description}. Its values are the "
            "defaults shown below; --config and command-line flags override them."
        )
    parser = TrlParser(config_classes(), prog=prog, description=description)
    if recipe is not None:
        leftover = parser.set_defaults_with_config(**recipe.args)
        if leftover:  # validate_recipe prevents this; keep the failure loud if it ever happens
            raise RecipeError(f"{recipe.path}: keys the parser does not know: {leftover[::2]}")
    return parser


def _subtract_subsequence(items: list[str], subseq: list[str]) -> list[str]:
    """``items`` without the ordered subsequence ``subseq`` (TRL's own helper, same logic)."""
    it = iter(subseq)
    current = next(it, None)
    out = []
    for item in items:
        if current is not None and item == current:
            current = next(it, None)
        else:
            out.append(item)
    return out


def accelerate_launch_args(launch_args: list[str], recipe: Recipe | None) -> list[str]:
    """Turn ``--accelerate_config NAME_OR_PATH`` into ``--config_file``; add the recipe's."""
    from avem_plugins.launch.recipe import resolve_accelerate_config

    args = list(launch_args)
    for i, arg in enumerate(args):
        if arg == "--accelerate_config" or arg.startswith("--accelerate_config="):
            if "=" in arg:
                value, tail = arg.split("=", 1)[1], args[i + 1 :]
            elif i + 1 < len(args):
                value, tail = args[i + 1], args[i + 2 :]
            else:
                raise LaunchError("--accelerate_config needs a value: a name or a .yaml path")
            try:
                path = resolve_accelerate_config(value)
            except RecipeError as exc:
                raise LaunchError(f"--accelerate_config: {exc}") from exc
            return ["--config_file", str(path), *args[:i], *tail]
    if recipe is not None and recipe.accelerate_config and "--config_file" not in args:
        path = resolve_accelerate_config(recipe.accelerate_config, relative_to=recipe.path.parent)
        return ["--config_file", str(path), *args]
    return [*args, *_launch_defaults(args)]


def _given(args: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in args)


def _launch_defaults(args: list[str]) -> list[str]:
    """The values ``accelerate launch`` would otherwise default with a warning block.

    Only when neither ``--config_file`` nor accelerate's own default config file is there
    (then accelerate reads those values from the file). The values are the ones accelerate
    picks itself, except ``--num_processes``: 1 on a machine without CUDA devices (accelerate
    says 0 and runs one process).
    """
    from accelerate.commands.config import default_config_file

    if _given(args, "--config_file") or (
        Path(default_config_file).is_file() and "--cpu" not in args
    ):
        return []
    import torch

    defaults = {
        "--num_processes": str(max(torch.cuda.device_count(), 1)),
        "--num_machines": "1",
        "--mixed_precision": "no",
        "--dynamo_backend": "no",
    }
    return [
        item for flag, value in defaults.items() if not _given(args, flag) for item in (flag, value)
    ]


def plan(argv: Sequence[str], *, prog: str = "avem dpo") -> LaunchPlan:
    """Parse a ``trl dpo``-style command line (plus ``--recipe``) into a launch plan.

    Exits like argparse on ``-h`` and on malformed flags; raises :class:`RecipeError` or
    :class:`LaunchError` with a message naming the recipe file, key or flag.
    """
    recipe_ref, rest = split_recipe(argv)
    recipe = None
    if recipe_ref is not None:
        recipe = load_recipe(recipe_ref)
        validate_recipe(recipe)
    parser = make_parser(recipe, prog=prog)
    try:
        *dataclasses_, config_remaining, cli_remaining = parser.parse_args_and_config(
            rest, return_remaining_strings=True, separate_remaining_strings=True
        )
    except ValueError as exc:  # a dataclass's own check, e.g. bf16 on a machine without it
        raise LaunchError(str(exc)) from exc
    script_args, training_args, model_args = dataclasses_
    preflight(script_args, training_args, model_args)
    launch_args = accelerate_launch_args(config_remaining + cli_remaining, recipe)
    script_argv = _subtract_subsequence(rest, cli_remaining)
    if recipe is not None:
        script_argv = [RECIPE_FLAG, str(recipe.path.resolve()), *script_argv]
    return LaunchPlan(recipe, script_args, training_args, model_args, launch_args, script_argv)


def preflight(script_args: Any, training_args: Any, model_args: Any) -> None:
    """Cheap checks before any process starts or any model loads (seconds, not minutes).

    The model and the preference data must be named; a local preference file must exist,
    hold rows, and pass the schema (the first bad row is named, as ``avem prefs validate``
    would). Raises :class:`LaunchError` naming the flag to fix.
    """
    from avem_plugins.prefs.schema import PreferenceDataError, load_preferences

    if not model_args.model_name_or_path:
        raise LaunchError(
            "--model_name_or_path is required: a local model folder or a hub id "
            "(e.g. Qwen/Qwen2.5-Omni-7B)"
        )
    name = script_args.dataset_name
    if not name:
        raise LaunchError(
            "--dataset_name is required: a preference .jsonl/.json file (see `avem prefs validate`)"
        )
    path = Path(name)
    if path.suffix not in (".jsonl", ".json") and not path.exists():
        return  # a dataset name for `datasets.load_dataset`, checked by the worker
    if not path.is_file():
        raise LaunchError(f"--dataset_name {name}: no such file")
    try:
        rows = load_preferences(path, training_args.media_root)
    except PreferenceDataError as exc:
        raise LaunchError(f"--dataset_name: {exc}") from exc
    if not rows:
        raise LaunchError(f"--dataset_name {name}: the file holds no preference rows")


def _accelerate_launch(argv: list[str]) -> None:
    from accelerate.commands.launch import launch_command, launch_command_parser

    # The workers are `python -m avem_plugins.launch.launcher`, which puts the current folder
    # first on sys.path: started inside a clone of this repository with a wheel installed,
    # the clone's source folder (which holds no avem_plugins.plugins) would shadow the
    # installed package. PYTHONSAFEPATH (Python 3.11+) leaves the folder out; accelerate
    # copies os.environ into the workers, so it is set for the launch only.
    before = os.environ.get("PYTHONSAFEPATH")
    os.environ.setdefault("PYTHONSAFEPATH", "1")
    try:
        launch_command(launch_command_parser().parse_args(argv))
    finally:
        if before is None:
            os.environ.pop("PYTHONSAFEPATH", None)


def launch(
    argv: Sequence[str],
    *,
    prog: str = "avem dpo",
    runner: Callable[[list[str]], None] = _accelerate_launch,
) -> int:
    """Parse, then run ``accelerate launch`` on the worker; return the exit code."""
    from avem_plugins import extras

    try:  # TRL and peft (the `trl` extra) and transformers 5.23+, before any parsing
        extras.require(prog, "trl", transformers=True)
    except (extras.MissingExtraError, extras.RequirementError) as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        launch_plan = plan(argv, prog=prog)
        runner(launch_plan.accelerate_argv())
    except (RecipeError, LaunchError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"{prog}: training exited with status {exc.returncode}", file=sys.stderr)
        return exc.returncode or 1
    return 0


def parse_worker_args(argv: Sequence[str]) -> tuple[Any, Any, Any]:
    """``(script_args, training_args, model_args)`` in a launched process."""
    recipe_ref, rest = split_recipe(argv)
    recipe = load_recipe(recipe_ref) if recipe_ref is not None else None
    parser = make_parser(recipe, prog=WORKER_MODULE)
    # As trl/scripts/dpo.py: keys of --config meant for accelerate are not an error here.
    script_args, training_args, model_args = parser.parse_args_and_config(
        list(rest), fail_with_unknown_args=False
    )
    return script_args, training_args, model_args


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors about the user's data or settings: reported as one line, not a traceback.

    Each names the file, row or field to fix (bad preference rows, undecodable media, no
    usable mismatched input, an unknown adapter, a NaN loss with its sample ids).
    """
    from avem_plugins.adapters.base import AdapterError
    from avem_plugins.dpo.engines import EngineError
    from avem_plugins.dpo.lengths import SequenceLengthError
    from avem_plugins.dpo.mismatch import MismatchError
    from avem_plugins.dpo.trainer import NonFiniteLossError
    from avem_plugins.media import MediaError
    from avem_plugins.prefs.schema import PreferenceDataError

    return (PreferenceDataError, MediaError, MismatchError, AdapterError, RecipeError,
            NonFiniteLossError, SequenceLengthError, EngineError)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of each launched process (``python -m avem_plugins.launch.launcher``).

    Errors of :func:`user_errors` end the process with status 1 and one ``error: Type:
    message`` line on stderr; anything else (a bug) keeps its traceback.
    """
    import warnings

    from avem_plugins.dpo.train import main as train_main

    # peft and TRL read the model's old `is_gradient_checkpointing` attribute, which
    # transformers >= 5.23 deprecates; users cannot act on it, so it is not shown.
    warnings.filterwarnings(
        "ignore", message=r".*`is_gradient_checkpointing` is deprecated", category=FutureWarning
    )
    script_args, training_args, model_args = parse_worker_args(
        sys.argv[1:] if argv is None else argv
    )
    try:
        train_main(script_args, training_args, model_args)
    except user_errors() as exc:
        from tqdm import tqdm  # clears a progress bar still drawn on the line first

        tqdm.write(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
