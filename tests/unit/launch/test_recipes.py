"""Recipes: registry from files, schema, validation against the real dataclasses, inheritance."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from avem_plugins import registry as manager
from avem_plugins.hookspecs import hookimpl
from avem_plugins.launch import recipe as R

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted(R.available_recipes())


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def extra_dir_plugin(tmp_path):
    """Register ``tmp_path/extra`` as a recipe folder through the real hook."""
    folder = tmp_path / "extra"
    folder.mkdir()
    plugin = types.SimpleNamespace()

    @hookimpl
    def avem_register_recipe_dirs(register):
        register(folder)

    plugin.avem_register_recipe_dirs = avem_register_recipe_dirs
    pm = manager.load_plugins()
    pm.register(plugin, name="test_extra_recipes")
    yield folder
    pm.unregister(name="test_extra_recipes")


# ---------------------------------------------------------------------------- registry


def test_registry_is_built_from_the_shipped_files():
    files = sorted(p.stem for p in (ROOT / "recipes").glob("*.yaml"))
    assert files == SHIPPED
    assert {
        "avem",
        "naive-dpo",
        "avem-no-tpd",
        "avem-no-pmp",
        "avem-no-erp",
        "avem-qwen2.5-omni-7b",
        "avem-qwen2.5-omni-3b",
        "avem-qwen3-omni-30b-a3b",
        "avem-tiny",
    } <= set(SHIPPED)
    # accelerate configs live in a sub-folder and are not recipes
    assert not any(name in SHIPPED for name in ("ddp", "fsdp2", "zero2", "zero3"))


def test_avem_register_recipe_dirs_adds_a_plugin_folder(extra_dir_plugin):
    _write(extra_dir_plugin, "my-recipe", "recipe: {description: mine, base: avem}\nbeta: 0.2\n")
    assert R.available_recipes()["my-recipe"] == extra_dir_plugin / "my-recipe.yaml"
    loaded = R.load_recipe("my-recipe")
    assert loaded.args["beta"] == 0.2
    assert loaded.args["beta_er"] == 0.5  # from the shipped base


def test_duplicate_recipe_names_across_folders_are_an_error(extra_dir_plugin):
    _write(extra_dir_plugin, "avem", "recipe: {description: shadow}\n")
    with pytest.raises(R.RecipeError, match="two recipe folders define 'avem'") as info:
        R.available_recipes()
    assert str(extra_dir_plugin / "avem.yaml") in str(info.value)


def test_unknown_recipe_name_suggests_close_names():
    with pytest.raises(R.RecipeError, match=r"no recipe named 'avem-tny'.*did you mean avem-tiny"):
        R.find_recipe("avem-tny")


def test_missing_recipe_path_is_an_error(tmp_path):
    with pytest.raises(R.RecipeError, match="does not exist"):
        R.find_recipe(tmp_path / "nope.yaml")


# ---------------------------------------------------------------- every shipped recipe


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_recipe_validates_against_the_real_dataclasses(name):
    from trl import ModelConfig, ScriptArguments

    from avem_plugins.dpo.config import AVEmDPOConfig
    from avem_plugins.registry import available_adapters

    recipe = R.load_recipe(name)
    script_args, training_args, model_args = R.validate_recipe(recipe)
    assert isinstance(script_args, ScriptArguments)
    assert isinstance(training_args, AVEmDPOConfig)
    assert isinstance(model_args, ModelConfig)
    for key, value in recipe.args.items():
        obj = next(o for o in (script_args, training_args, model_args) if hasattr(o, key))
        if key == "lora_target_modules" and len(value) == 1:
            assert obj.lora_target_modules == value[0]  # TRL turns one entry into a regex string
        elif key not in ("use_cpu", "save_strategy", "lr_scheduler_type", "report_to"):
            assert getattr(obj, key) == value, key
    adapter = recipe.args.get("adapter", "auto")
    assert adapter == "auto" or adapter in available_adapters()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_recipe_opens_with_purpose_and_launch_line(name):
    path = R.available_recipes()[name]
    head = R.header(path)
    assert head and head[0].startswith(f"{name}:"), (
        f"{path}: first line must be '# {name}: purpose'"
    )
    line = R.launch_line(path)
    assert line is not None and f"--recipe {name} " in line, f"{path}: no exact launch line"


def test_paper_defaults_in_avem():
    args = R.load_recipe("avem").args
    assert (args["beta"], args["beta_er"], args["beta_vr"]) == (0.1, 0.5, 0.5)
    assert (args["gamma_tpd"], args["lambda_av"]) == (0.2, 1.0)
    assert (args["learning_rate"], args["num_train_epochs"]) == (5e-7, 1)
    assert args["per_device_train_batch_size"] * args["gradient_accumulation_steps"] * 8 == 64
    assert (args["use_peft"], args["lora_r"], args["lora_alpha"] / args["lora_r"]) == (True, 8, 4)
    assert args["bf16"] is True and args["activation_checkpointing"] is True
    assert args["adapter"] == "auto" and "model_name_or_path" not in args


@pytest.mark.parametrize(
    ("name", "changed"),
    [
        ("naive-dpo", {"beta_er": 1.0, "beta_vr": 0.0, "gamma_tpd": 0.0, "lambda_av": 0.0}),
        ("avem-no-tpd", {"gamma_tpd": 0.0}),
        ("avem-no-pmp", {"lambda_av": 0.0}),
        ("avem-no-erp", {"beta_er": 1.0, "beta_vr": 0.0}),
    ],
)
def test_ablations_change_only_their_knobs(name, changed):
    base, ablation = R.load_recipe("avem").args, R.load_recipe(name).args
    diff = {k: v for k, v in ablation.items() if base.get(k) != v}
    assert diff == changed


def test_bindings_inherit_the_paper_defaults():
    base = R.load_recipe("avem").args
    for name in ("avem-qwen2.5-omni-7b", "avem-qwen2.5-omni-3b", "avem-qwen3-omni-30b-a3b"):
        recipe = R.load_recipe(name)
        assert recipe.base == "avem"
        for key in ("beta", "beta_er", "beta_vr", "gamma_tpd", "lambda_av", "learning_rate"):
            assert recipe.args[key] == base[key]
        assert recipe.sources["beta"].name == "avem.yaml"
        assert recipe.args["adapter"] != "auto" and recipe.accelerate_config
        assert recipe.args["dtype"] == "bfloat16" and recipe.args["lora_target_modules"]
        # the collator (decoding, processor) runs in DataLoader workers, off the step's path
        assert recipe.args["dataloader_num_workers"] >= 2


# ---------------------------------------------------------------------------- schema


def test_unknown_key_is_rejected_with_file_and_key(tmp_path):
    path = _write(tmp_path, "typo", "recipe: {description: x}\nbetaa: 0.2\nlora_r: 8\n")
    with pytest.raises(R.RecipeError) as info:
        R.validate(path)
    msg = str(info.value)
    assert str(path) in msg and "'betaa'" in msg and "did you mean 'beta'" in msg


def test_unknown_key_in_a_base_names_the_base_file(tmp_path):
    base = _write(tmp_path, "base", "recipe: {description: b}\nnot_a_field: 1\n")
    child = _write(tmp_path, "child", "recipe: {description: c, base: base.yaml}\nbeta: 0.3\n")
    with pytest.raises(R.RecipeError) as info:
        R.validate(child)
    assert f"{base} (inherited by child.yaml): unknown key 'not_a_field'" in str(info.value)


def test_unknown_meta_key_is_rejected(tmp_path):
    path = _write(tmp_path, "meta", "recipe: {description: x, parent: avem}\n")
    with pytest.raises(R.RecipeError, match=r"meta.yaml: unknown key recipe.parent"):
        R.load_recipe(path)


def test_recipe_section_and_description_are_required(tmp_path):
    with pytest.raises(R.RecipeError, match="missing the `recipe:` section"):
        R.load_recipe(_write(tmp_path, "a", "beta: 0.1\n"))
    with pytest.raises(R.RecipeError, match="description` is required"):
        R.load_recipe(_write(tmp_path, "b", "recipe: {base: avem}\n"))


def test_not_a_mapping_is_rejected(tmp_path):
    with pytest.raises(R.RecipeError, match="must be a YAML mapping"):
        R.load_recipe(_write(tmp_path, "list", "- beta\n"))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("beta: high", "beta='high' is not a float"),
        ("lora_r: 8.5", "lora_r=8.5 is not a int"),
        ("bf16: 'yes'", "bf16='yes' is not a bool"),
        ("lora_target_modules: [1, 2]", "lora_target_modules=[1, 2]"),
        ("text_prior_model: oracle", "text_prior_model='oracle' is not one of"),
    ],
)
def test_wrong_types_are_rejected_with_file_and_key(tmp_path, line, expected):
    path = _write(tmp_path, "types", f"recipe: {{description: x}}\n{line}\n")
    with pytest.raises(R.RecipeError) as info:
        R.validate(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_dataclass_checks_run(tmp_path):
    path = _write(tmp_path, "loss", "recipe: {description: x}\nloss_type: [ipo]\n")
    with pytest.raises(R.RecipeError, match=r"AVEmDPOConfig rejects these values:.*sigmoid"):
        R.validate(path)


def test_unknown_adapter_is_rejected(tmp_path):
    path = _write(tmp_path, "adapter", "recipe: {description: x}\nadapter: no_such_family\n")
    with pytest.raises(R.RecipeError, match=r"adapter 'no_such_family' is not registered"):
        R.validate(path)


def test_unknown_accelerate_config_is_rejected(tmp_path):
    path = _write(tmp_path, "acc", "recipe: {description: x, accelerate_config: nope}\n")
    with pytest.raises(R.RecipeError, match=r"recipe.accelerate_config: accelerate config 'nope'"):
        R.validate(path)


def test_accelerate_config_resolves_ours_then_trl(tmp_path):
    ours = R.accelerate_config_dirs()
    if ours and list(ours[0].glob("*.yaml")):
        first = sorted(ours[0].glob("*.yaml"))[0]
        assert R.resolve_accelerate_config(first.stem) == first
    trl_cfg = R.resolve_accelerate_config("multi_gpu")  # shipped by TRL 1.16
    assert trl_cfg.name == "multi_gpu.yaml" and "trl" in trl_cfg.parts
    own = tmp_path / "mine.yaml"
    own.write_text("compute_environment: LOCAL_MACHINE\n")
    assert R.resolve_accelerate_config(str(own)) == own


# ----------------------------------------------------------------------- inheritance


def test_inheritance_child_wins_and_records_sources(tmp_path):
    _write(
        tmp_path,
        "parent",
        "recipe: {description: p, accelerate_config: zero3}\nbeta: 0.1\nlora_r: 8\n",
    )
    child = _write(tmp_path, "child", "recipe: {description: c, base: parent.yaml}\nbeta: 0.3\n")
    grandchild = _write(
        tmp_path, "grand", "recipe: {description: g, base: child.yaml}\nlora_r: 16\n"
    )
    recipe = R.load_recipe(grandchild)
    assert recipe.args == {"beta": 0.3, "lora_r": 16}
    assert recipe.sources == {"beta": child, "lora_r": grandchild}
    assert recipe.accelerate_config == "zero3"  # inherited
    assert [p.name for p in recipe.chain] == ["grand.yaml", "child.yaml", "parent.yaml"]
    assert recipe.description == "g" and recipe.base == "child.yaml"


def test_inheritance_from_a_registered_name(tmp_path):
    path = _write(tmp_path, "mine", "recipe: {description: m, base: avem-tiny}\nmax_steps: 7\n")
    recipe = R.load_recipe(path)
    assert recipe.args["max_steps"] == 7
    assert recipe.args["use_cpu"] is True  # avem-tiny
    assert recipe.args["beta_er"] == 0.5  # avem, two levels up


def test_inheritance_cycle_is_an_error(tmp_path):
    _write(tmp_path, "a", "recipe: {description: a, base: b.yaml}\n")
    _write(tmp_path, "b", "recipe: {description: b, base: a.yaml}\n")
    with pytest.raises(R.RecipeError, match="inheritance cycle"):
        R.load_recipe(tmp_path / "a.yaml")


def test_missing_base_names_the_file(tmp_path):
    path = _write(tmp_path, "orphan", "recipe: {description: o, base: no-such-recipe}\n")
    with pytest.raises(R.RecipeError, match=r"orphan.yaml: base 'no-such-recipe'"):
        R.load_recipe(path)


def test_child_can_unset_the_accelerate_config(tmp_path):
    path = _write(
        tmp_path,
        "single",
        "recipe: {description: s, base: avem-qwen3-omni-30b-a3b, accelerate_config: null}\n",
    )
    assert R.load_recipe(path).accelerate_config is None


# ---------------------------------------------------------------------- cp and show


def test_copy_keeps_comments_and_still_resolves_its_base(tmp_path):
    target = R.copy_recipe("avem-tiny", tmp_path)
    assert target == tmp_path / "avem-tiny.yaml"
    assert target.read_text() == R.available_recipes()["avem-tiny"].read_text()
    assert R.load_recipe(target).args == R.load_recipe("avem-tiny").args
    with pytest.raises(R.RecipeError, match="exists"):
        R.copy_recipe("avem-tiny", target)
    with pytest.raises(R.RecipeError, match=r"must end in \.yaml"):
        R.copy_recipe("avem", tmp_path / "x.txt")


def test_resolved_yaml_is_a_trl_config(tmp_path):
    import yaml

    text = R.resolved_yaml(R.load_recipe("naive-dpo"))
    data = yaml.safe_load(text)
    assert "recipe" not in data and data["lambda_av"] == 0.0 and data["learning_rate"] == 5e-7
