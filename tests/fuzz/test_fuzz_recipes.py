"""Fuzzed recipe YAML (``avem_plugins.launch.recipe``): read, loaded with its ``base:`` chain,
and (one example in four) validated against TRL's and our config dataclasses.

Valid recipes (a ``recipe:`` section, real training keys with valid values, sometimes a
``base:`` by name or by relative path) are mutated as mappings (a key dropped or repeated, a
value of another type, huge numbers, nested lists, odd Unicode keys and values, an unknown
key) and as text (anchors and aliases, ``!!python`` tags, deep nesting, tabs, BOM, CRLF,
invalid UTF-8, truncation). The property: a recipe, or a ``RecipeError`` naming the file
(a validation error names it on every line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzz_support import (
    DEFAULT_TIER,
    SLOW_TIER,
    mutate_bytes,
    odd_text,
    odd_value,
    outcome,
    scratch_dir,
)
from hypothesis import given
from hypothesis import strategies as st

from avem_plugins.launch import recipe as recipes

VALID: dict[str, st.SearchStrategy[Any]] = {
    "beta": st.floats(0.01, 1.0),
    "learning_rate": st.sampled_from([1e-3, 5e-6]),
    "max_steps": st.integers(1, 10),
    "per_device_train_batch_size": st.integers(1, 4),
    "bf16": st.booleans(),
    "use_cpu": st.just(True),
    "num_frames": st.integers(1, 8),
    "seed": st.integers(0, 2**31),
    "report_to": st.just("none"),
    "save_strategy": st.sampled_from(["no", "steps"]),
    "lora_target_modules": st.builds(lambda: [".*q_proj"]),
}
#: Recipe errors name the key itself (``recipe.base``, ``max_steps=...``, ``base '...'``).
FILE_LEVEL = (
    r"cannot read recipe",
    r"must be a YAML mapping",
    r"missing the `recipe:` section",
    r"keys must be strings",
    r"recipe\.\w+",
    r"\bbase\b",
    r"\w+=",
    r"rejects these values",
)
TEXT_MUTATIONS = (
    "anchor_bomb",
    "python_tag",
    "deep",
    "tabs",
    "huge_int",
    "binary",
    "date",
    "dup_key",
)


@st.composite
def recipe_texts(draw: st.DrawFn) -> tuple[bytes, str]:
    keys = draw(st.lists(st.sampled_from(sorted(VALID)), unique=True, max_size=6))
    args: dict[Any, Any] = {k: draw(VALID[k]) for k in keys}
    meta: dict[Any, Any] = {
        "description": draw(st.sampled_from(["fuzzed", "AVEm-DPO, paper defaults"]))
    }
    base = draw(
        st.sampled_from(
            [None, None, "avem-tiny", "base.yaml", "./base.yaml", "missing.yaml", "nope"]
        )
    )
    if base is not None:
        meta["base"] = base
    for kind in draw(
        st.lists(
            st.sampled_from(["drop_meta", "meta_value", "meta_key", "value", "key"]), max_size=3
        )
    ):
        if kind == "drop_meta":
            meta.pop(draw(st.sampled_from(["description", "base"])), None)
        elif kind == "meta_value":
            meta[draw(st.sampled_from(["description", "base", "accelerate_config"]))] = draw(
                odd_value()
            )
        elif kind == "meta_key":
            meta[draw(odd_text())] = "x"
        elif kind == "value" and args:
            args[draw(st.sampled_from(sorted(args)))] = draw(odd_value())
        else:
            args[draw(odd_text() | st.sampled_from(["betaa", "recipe", "1", "lora_r"]))] = draw(
                odd_value()
            )
    doc: Any = {"recipe": meta, **args} if draw(st.integers(0, 9)) else draw(odd_value())
    try:
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, ValueError, TypeError):
        text = "recipe: {description: x}\n"
    for kind in draw(st.lists(st.sampled_from(TEXT_MUTATIONS), max_size=2)):
        if kind == "anchor_bomb":
            text += "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
                f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                for p, c in zip("abcdefgh", "bcdefghi", strict=True)
            )
        elif kind == "python_tag":
            text += "seed: !!python/object/apply:os.system ['echo pwned']\n"
        elif kind == "deep":
            text += "lora_target_modules: " + "[" * 3000 + "]" * 3000 + "\n"
        elif kind == "tabs":
            text = text.replace("  ", "\t")
        elif kind == "huge_int":
            text += "max_steps: " + "1" * 5000 + "\n"
        elif kind == "binary":
            text += "report_to: !!binary aGVsbG8=\n"
        elif kind == "date":
            text += "seed: 2020-01-02\n"
        elif kind == "dup_key":
            text += "recipe: {description: again}\n"
    data = draw(mutate_bytes(text.encode("utf-8", "surrogatepass")))
    return data, draw(st.sampled_from(["fuzzed.yaml", "fuzzed.yml"]))


def check_recipe(case: tuple[bytes, str], validate: bool) -> None:
    data, name = case
    with scratch_dir() as tmp:
        folder = Path(tmp)
        (folder / "base.yaml").write_text("recipe:\n  description: a base\nseed: 1\n")
        path = folder / name
        path.write_bytes(data)
        read = outcome(
            lambda: recipes.read_recipe_file(path), recipes.RecipeError, path, file_level=FILE_LEVEL
        )
        loaded = outcome(
            lambda: recipes.load_recipe(path), recipes.RecipeError, path, file_level=FILE_LEVEL
        )
        if read.ok and loaded.ok:
            _meta, args = read.value
            assert set(args) <= set(loaded.value.args)  # the file's own keys all arrive
        if validate and loaded.ok:
            outcome(
                lambda: recipes.validate_recipe(loaded.value),
                recipes.RecipeError,
                path,
                multi_line=True,
                file_level=FILE_LEVEL,
            )


@pytest.fixture(scope="module")
def config_classes() -> None:
    """TRL and our config classes, imported once before the timed examples (tens of seconds)."""
    recipes.config_classes()
    recipes.available_recipes()


@given(case=recipe_texts(), validate=st.integers(0, 3).map(lambda n: n == 0))
@DEFAULT_TIER
def test_recipe_yaml_loads_or_names_the_file(
    config_classes: None, case: tuple[bytes, str], validate: bool
) -> None:
    check_recipe(case, validate)


@pytest.mark.slow
@given(case=recipe_texts(), validate=st.integers(0, 3).map(lambda n: n == 0))
@SLOW_TIER
def test_recipe_yaml_loads_or_names_the_file_10k(
    config_classes: None, case: tuple[bytes, str], validate: bool
) -> None:
    check_recipe(case, validate)
