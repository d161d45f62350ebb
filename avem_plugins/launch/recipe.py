"""Recipes: named, schema-validated YAML defaults for ``trl dpo`` / ``avem dpo``.

A recipe is a flat mapping of the same keys ``trl dpo --config FILE`` accepts (fields of
TRL's ``ScriptArguments``, our ``AVEmDPOConfig`` and TRL's ``ModelConfig``) plus one
``recipe:`` section about the recipe itself::

    # avem: AVEm-DPO with the paper's defaults.
    # trl dpo --recipe avem --model_name_or_path ... --dataset_name prefs.jsonl --output_dir out
    recipe:
      description: AVEm-DPO, paper defaults
      base: null              # or another recipe's name (or a .yaml path) to inherit from
      accelerate_config: ddp  # optional: recipes/accelerate/<name>.yaml, a TRL name, or a path
    beta: 0.1
    beta_er: 0.5

The registry is built from the files: every ``*.yaml`` in a folder registered through the
``avem_register_recipe_dirs`` hook is a recipe named by its file stem. No list is kept by hand.

Validation (torchtune's ``validate`` style) binds a recipe to the real dataclasses: every key
must be a field of one of them, every value must have the field's type (and be one of its
``choices``), and the dataclasses are then constructed from the values, which runs their own
checks without loading any weights. Adapter names are checked against the adapter registry
and ``accelerate_config`` must resolve to a file.

This module imports only ``yaml`` at import time; TRL is imported by :func:`config_classes`.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import re
import reprlib
import shutil
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: The key of the section that describes the recipe itself (not a training argument).
META_KEY = "recipe"
#: Keys allowed in the ``recipe:`` section, with their types.
META_FIELDS: dict[str, type | tuple[type, ...]] = {
    "description": str,
    "base": (str, type(None)),
    "accelerate_config": (str, type(None)),
}
#: File suffixes of recipe files.
SUFFIXES: tuple[str, ...] = (".yaml", ".yml")


class RecipeError(ValueError):
    """A recipe could not be found, read or validated; the message names file and key."""


#: Values in messages: short, one line, and never the full expansion of YAML aliases.
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxstring, _REPR.maxother = 2, 4, 80, 80
_shown = _REPR.repr


def _plain(value: Any) -> str:
    """A name as it is when it is short printable text, else :func:`_shown`."""
    if isinstance(value, str) and value.isprintable() and len(value) <= 120:
        return value
    return _shown(value)


@dataclass(frozen=True)
class Recipe:
    """A recipe with its ``base:`` chain resolved.

    ``args`` holds the merged training arguments (bases first, this file last) and
    ``sources`` the file that set each key, for error messages. ``chain`` lists the files from
    this one down to the root base.
    """

    name: str
    path: Path
    description: str
    base: str | None
    accelerate_config: str | None
    args: dict[str, Any]
    sources: dict[str, Path] = field(default_factory=dict)
    chain: tuple[Path, ...] = ()

    def where(self, key: str) -> str:
        """``file`` or ``file (inherited by this.yaml)`` for the file that set ``key``."""
        src = self.sources.get(key, self.path)
        return str(src) if src == self.path else f"{src} (inherited by {self.path.name})"


# ---------------------------------------------------------------------------- registry


def recipe_dirs() -> list[Path]:
    """Folders registered by plugins through ``avem_register_recipe_dirs``, in order."""
    from avem_plugins.registry import PluginError
    from avem_plugins.registry import recipe_dirs as registered

    try:
        return registered()
    except PluginError as exc:
        raise RecipeError(str(exc)) from exc


def available_recipes() -> dict[str, Path]:
    """Every registered recipe by name (file stem), sorted by name.

    Two folders defining the same name is an error naming both files.
    """
    found: dict[str, Path] = {}
    for folder in recipe_dirs():
        for path in sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file()):
            name = path.stem
            if name in found and found[name].resolve() != path.resolve():
                raise RecipeError(
                    f"two recipe folders define {name!r}: {found[name]} and {path}; rename one "
                    "or block its plugin with AVEM_BLOCK_PLUGINS=..."
                )
            found[name] = path
    return dict(sorted(found.items()))


def _looks_like_path(value: str) -> bool:
    return value.endswith(SUFFIXES) or "/" in value or "\\" in value


def find_recipe(name_or_path: str | Path, *, relative_to: Path | None = None) -> Path:
    """The file of a registered recipe name, or an existing ``.yaml`` path.

    A relative path is tried against ``relative_to`` (the folder of the file naming it as
    ``base:``) and then the current directory.
    """
    value = str(name_or_path)
    if isinstance(name_or_path, Path) or _looks_like_path(value):
        candidates = [Path(value)]
        if relative_to is not None and not Path(value).is_absolute():
            candidates.insert(0, relative_to / value)
        for cand in candidates:
            try:
                if cand.is_file():
                    return cand
            except OSError:  # e.g. a name longer than the file system allows
                continue
        raise RecipeError(f"recipe file {_plain(value)} does not exist")
    recipes = available_recipes()
    if value in recipes:
        return recipes[value]
    close = difflib.get_close_matches(value, recipes, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise RecipeError(
        f"no recipe named {value!r}{hint} Available: {', '.join(recipes) or 'none'} "
        "(`avem recipes ls`), or pass a path to a .yaml file"
    )


def _safe_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, through libyaml when PyYAML has it: the pure-Python parser
    takes seconds on a few kB of nested brackets, libyaml refuses them at once."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_recipe_file(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(meta, args)`` of one file, checking only its structure (not the field names)."""
    try:
        raw = path.read_bytes()
        data = _safe_yaml(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RecipeError(
            f"{path} line {line}: not UTF-8 (byte 0x{raw[exc.start]:02x}); save the recipe as UTF-8"
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (e.g. NUL)
        line = raw.decode("utf-8").count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise RecipeError(
            f"{path} line {line}: cannot read recipe: character #x{code:04x} is not allowed in YAML"
        ) from None
    except yaml.MarkedYAMLError as exc:  # one line: what and where (YAML's own text spans lines)
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = " ".join(str(exc.problem or exc.context or "").split())
        raise RecipeError(f"{path}{where}: cannot read recipe: {what}") from None
    except (OSError, yaml.YAMLError) as exc:
        raise RecipeError(f"{path}: cannot read recipe: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise RecipeError(
            f"{path}: cannot read recipe: lists or mappings nested too deeply"
        ) from None
    except ValueError:  # an integer longer than Python's 4300-digit limit
        digits = re.search(rb"\d{4301,}", raw)
        line = raw[: digits.start()].count(b"\n") + 1 if digits else 0
        where = f" line {line}" if line else ""
        raise RecipeError(
            f"{path}{where}: cannot read recipe: a number with more than 4300 digits"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a YAML mapping, got {type(data).__name__}")
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise RecipeError(f"{path}: keys must be strings, got {_shown(bad)}")
    meta = data.pop(META_KEY, None)
    if meta is None:
        raise RecipeError(
            f"{path}: missing the `{META_KEY}:` section (at least `{META_KEY}: {{description: ...}}`)"
        )
    if not isinstance(meta, dict):
        raise RecipeError(f"{path}: `{META_KEY}:` must be a mapping of {sorted(META_FIELDS)}")
    for key, value in meta.items():
        if key not in META_FIELDS:
            raise RecipeError(
                f"{path}: unknown key {META_KEY}.{_plain(key)}; allowed in `{META_KEY}:`: "
                f"{', '.join(sorted(META_FIELDS))}"
            )
        if not isinstance(value, META_FIELDS[key]):
            raise RecipeError(f"{path}: {META_KEY}.{key} must be a string, got {_shown(value)}")
    if not meta.get("description"):
        raise RecipeError(
            f"{path}: `{META_KEY}.description` is required (one line: what it is for)"
        )
    return meta, data


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Read a recipe and resolve its ``base:`` chain (bases first, this file wins).

    Only the structure is checked here; :func:`validate_recipe` binds it to the dataclasses.
    """
    path = find_recipe(name_or_path)
    chain: list[Path] = []
    layers: list[tuple[Path, dict[str, Any], dict[str, Any]]] = []
    current: Path | None = path
    while current is not None:
        if current.resolve() in [p.resolve() for p in chain]:
            cycle = " -> ".join(str(p) for p in [*chain, current])
            raise RecipeError(f"recipe inheritance cycle: {cycle}")
        chain.append(current)
        meta, args = read_recipe_file(current)
        layers.append((current, meta, args))
        base = meta.get("base")
        try:
            current = find_recipe(base, relative_to=current.parent) if base else None
        except RecipeError as exc:
            raise RecipeError(f"{current}: base {_shown(base)}: {exc}") from exc

    merged: dict[str, Any] = {}
    sources: dict[str, Path] = {}
    accelerate_config: str | None = None
    for file, meta, args in reversed(layers):
        merged.update(args)
        sources.update(dict.fromkeys(args, file))
        if "accelerate_config" in meta:
            accelerate_config = meta["accelerate_config"]
    own_meta = layers[0][1]
    return Recipe(
        name=path.stem,
        path=path,
        description=own_meta["description"],
        base=own_meta.get("base"),
        accelerate_config=accelerate_config,
        args=merged,
        sources=sources,
        chain=tuple(chain),
    )


def copy_recipe(name_or_path: str | Path, dest: str | Path) -> Path:
    """Copy a recipe file verbatim (comments included) to ``dest`` (a file or a folder).

    Refuses to overwrite. A ``base:`` given by name still resolves through the registry.
    """
    src = find_recipe(name_or_path)
    target = Path(dest)
    if target.is_dir():
        target = target / src.name
    if target.suffix not in SUFFIXES:
        raise RecipeError(f"{target}: the copy must end in .yaml so --recipe can read it as a path")
    if target.exists():
        raise RecipeError(f"{target} exists; remove it or choose another destination")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    return target


def resolved_yaml(recipe: Recipe) -> str:
    """The merged arguments as a flat YAML mapping (usable as ``trl dpo --config``)."""
    return yaml.safe_dump(recipe.args, sort_keys=False, default_flow_style=None)


def accelerate_config_dirs() -> list[Path]:
    """``accelerate/`` sub-folders of the recipe folders (our named accelerate configs)."""
    return [d / "accelerate" for d in recipe_dirs() if (d / "accelerate").is_dir()]


def resolve_accelerate_config(value: str, *, relative_to: Path | None = None) -> Path:
    """An accelerate config file from a name or path.

    Order: an existing path (relative to ``relative_to`` first), ``recipes/accelerate/NAME.yaml``
    of a registered recipe folder, then TRL's own ``trl/accelerate_configs/NAME.yaml``.
    """
    for cand in ([relative_to / value] if relative_to else []) + [Path(value)]:
        if cand.is_file():
            return cand
    for folder in accelerate_config_dirs():
        if (folder / f"{value}.yaml").is_file():
            return folder / f"{value}.yaml"
    import importlib.resources

    try:
        trl_file = importlib.resources.files("trl.accelerate_configs").joinpath(f"{value}.yaml")
        if trl_file.is_file():
            return Path(str(trl_file))
    except ModuleNotFoundError:
        pass
    ours = sorted({p.stem for d in accelerate_config_dirs() for p in d.glob("*.yaml")})
    raise RecipeError(
        f"accelerate config {value!r} is neither a file nor a named config (ours: "
        f"{', '.join(ours) or 'none'}; or one of TRL's trl/accelerate_configs)"
    )


# -------------------------------------------------------------------------- validation


def config_classes() -> tuple[Any, Any, Any]:
    """``(ScriptArguments, AVEmDPOConfig, ModelConfig)``: what a recipe's keys bind to."""
    from trl import ModelConfig, ScriptArguments

    from avem_plugins.dpo.config import AVEmDPOConfig

    return ScriptArguments, AVEmDPOConfig, ModelConfig


def _type_ok(value: Any, tp: Any) -> bool:
    """Whether a YAML value fits a dataclass field type (as a recipe or CLI would give it)."""
    if tp is Any or tp is object:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(tp))
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return isinstance(value, tp) or any(value == m.value for m in tp)
    if origin in (list, tuple) or tp in (list, tuple):
        args = typing.get_args(tp)
        return isinstance(value, list) and (not args or all(_type_ok(v, args[0]) for v in value))
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True  # a typing construct we do not model: the dataclass itself will check


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _fields(cls: type) -> dict[str, tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints.get(f.name, Any)) for f in dataclasses.fields(cls) if f.init}


def split_args(recipe: Recipe) -> dict[type, dict[str, Any]]:
    """The recipe's arguments grouped by the dataclass each belongs to (unknown keys raise)."""
    classes = config_classes()
    owner = {name: cls for cls in classes for name in _fields(cls)}
    out: dict[type, dict[str, Any]] = {cls: {} for cls in classes}
    unknown = [k for k in recipe.args if k not in owner]
    if unknown:
        lines = []
        for key in unknown:
            close = difflib.get_close_matches(key, owner, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            lines.append(f"{recipe.where(key)}: unknown key {key!r}{hint}")
        names = ", ".join(c.__name__ for c in classes)
        raise RecipeError(
            "\n".join(lines) + f"\nkeys must be fields of {names}, or go under `{META_KEY}:`"
        )
    for key, value in recipe.args.items():
        out[owner[key]][key] = value
    return out


def validate_recipe(recipe: Recipe) -> list[object]:
    """Bind a recipe to the real dataclasses and registries; raise :class:`RecipeError`.

    Returns the constructed ``[ScriptArguments, AVEmDPOConfig, ModelConfig]`` instances.
    The training config is constructed with ``use_cpu=True`` so that a GPU recipe (``bf16``)
    validates on any machine: whether *this* machine supports bf16 is not the recipe's fault.
    """
    groups = split_args(recipe)
    problems: list[str] = []
    for cls, values in groups.items():
        fields = _fields(cls)
        for key, value in values.items():
            fld, tp = fields[key]
            if not _type_ok(value, tp):
                problems.append(
                    f"{recipe.where(key)}: {key}={_shown(value)} is not a {_type_name(tp)} "
                    f"({cls.__name__}.{key})"
                )
                continue
            choices = fld.metadata.get("choices")
            if choices and value is not None and value not in choices:
                problems.append(
                    f"{recipe.where(key)}: {key}={_shown(value)} is not one of {list(choices)}"
                )
    if problems:
        raise RecipeError("\n".join(problems))

    instances: list[object] = []
    for cls, values in groups.items():
        kwargs = dict(values)
        if "use_cpu" in _fields(cls):
            kwargs["use_cpu"] = True
            kwargs.setdefault("output_dir", str(Path("recipe-validation-output")))
        try:
            instances.append(cls(**kwargs))
        except Exception as exc:  # the dataclass's own checks: report them as recipe errors
            raise RecipeError(f"{recipe.path}: {cls.__name__} rejects these values: {exc}") from exc

    adapter = recipe.args.get("adapter")
    if adapter not in (None, "auto"):
        from avem_plugins.registry import available_adapters

        names = sorted(available_adapters())
        if adapter not in names:
            raise RecipeError(
                f"{recipe.where('adapter')}: adapter {adapter!r} is not registered; "
                f"installed: {', '.join(names)} (see `avem plugins`)"
            )
    if recipe.accelerate_config:
        try:
            resolve_accelerate_config(recipe.accelerate_config, relative_to=recipe.path.parent)
        except RecipeError as exc:
            raise RecipeError(f"{recipe.path}: recipe.accelerate_config: {exc}") from exc
    return instances


def validate(name_or_path: str | Path) -> Recipe:
    """Load and validate one recipe; return it."""
    recipe = load_recipe(name_or_path)
    validate_recipe(recipe)
    return recipe


def header(path: Path) -> list[str]:
    """The leading comment lines of a recipe file (purpose and launch line), without ``#``."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return lines


def launch_line(path: Path) -> str | None:
    """The exact launch line from a recipe's header comment, if it has one."""
    for line in header(path):
        if line.startswith(("trl dpo", "avem dpo", "accelerate launch")):
            return line
    return None


def describe(recipes: Mapping[str, Path] | None = None) -> list[dict[str, Any]]:
    """Name, file, description and base of each recipe (cheap: no TRL import)."""
    rows = []
    for name, path in (recipes if recipes is not None else available_recipes()).items():
        meta, _ = read_recipe_file(path)
        rows.append(
            {
                "name": name,
                "path": str(path),
                "description": meta["description"],
                "base": meta.get("base"),
            }
        )
    return rows
