"""The launcher behind `avem dpo` / `trl dpo --recipe`: precedence, --config, accelerate args."""

from __future__ import annotations

import json

import pytest

from avem_plugins.launch import launcher as L
from avem_plugins.launch import recipe as R

BASE = ["--model_name_or_path", "m", "--dataset_name", "prefs.jsonl", "--output_dir", "out"]


@pytest.fixture(autouse=True)
def _prefs_file(tmp_path, monkeypatch):
    """``prefs.jsonl`` of BASE: one valid row, in the working directory (the launcher checks it)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "v.mp4").write_bytes(b"")
    row = {
        "prompt": "How does she feel?",
        "chosen": "Calm.",
        "rejected": "Angry.",
        "video": "v.mp4",
    }
    (tmp_path / "prefs.jsonl").write_text(json.dumps(row) + "\n")


def _recipe(tmp_path, body: str, name: str = "r") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(body)
    return str(path)


def test_split_recipe_forms():
    assert L.split_recipe(["--recipe", "avem", "--beta", "1"]) == ("avem", ["--beta", "1"])
    assert L.split_recipe(["--beta", "1", "--recipe=x.yaml"]) == ("x.yaml", ["--beta", "1"])
    assert L.split_recipe(["--beta", "1"]) == (None, ["--beta", "1"])
    with pytest.raises(L.LaunchError, match="needs a value"):
        L.split_recipe(["--recipe", "--beta", "1"])
    with pytest.raises(L.LaunchError, match="given twice"):
        L.split_recipe(["--recipe", "a", "--recipe", "b"])


def test_precedence_cli_over_config_over_recipe_over_default(tmp_path):
    from avem_plugins.dpo.config import AVEmDPOConfig

    recipe = _recipe(
        tmp_path,
        "recipe: {description: t, base: avem-tiny}\n"
        "learning_rate: 0.5\nbeta: 0.3\nmax_steps: 9\nlora_r: 4\n",
    )
    config = tmp_path / "cfg.yaml"
    config.write_text("beta: 0.7\nmax_steps: 5\n")
    plan = L.plan(["--recipe", recipe, *BASE, "--config", str(config), "--max_steps", "2"])
    t, m = plan.training_args, plan.model_args
    assert t.max_steps == 2  # CLI beats --config and recipe
    assert t.beta == 0.7  # --config beats recipe
    assert t.learning_rate == 0.5 and m.lora_r == 4  # recipe beats defaults
    assert t.beta_er == 0.5 and t.use_cpu is True  # inherited through avem-tiny -> avem
    defaults = AVEmDPOConfig(output_dir="x", use_cpu=True)
    assert t.warmup_steps == defaults.warmup_steps  # untouched: the dataclass default
    assert plan.script_args.dataset_name == "prefs.jsonl"


def test_without_recipe_the_dataclass_defaults_apply(tmp_path):
    plan = L.plan([*BASE, "--use_cpu", "--bf16", "false"])
    assert plan.recipe is None
    assert plan.training_args.beta_er == 0.5 and plan.training_args.learning_rate == 1e-6
    assert "--recipe" not in plan.script_argv


def test_worker_argv_carries_the_recipe_and_the_known_flags(tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text("beta: 0.7\nnum_processes: 1\n")
    plan = L.plan(
        [
            "--recipe",
            "avem-tiny",
            *BASE,
            "--config",
            str(config),
            "--num_cpu_threads_per_process",
            "1",
        ]
    )
    recipe_path = str(R.available_recipes()["avem-tiny"].resolve())
    assert plan.script_argv[:2] == ["--recipe", recipe_path]
    assert plan.script_argv[2:] == [*BASE, "--config", str(config)]
    # unknown CLI flags and config keys go to accelerate launch, as in `trl dpo`
    # ... plus the values accelerate would otherwise default with a warning block
    assert plan.launch_args == [
        *["--num_processes", "1", "--num_cpu_threads_per_process", "1"],
        *["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"],
    ]
    argv = plan.accelerate_argv()
    assert argv[argv.index("--module") + 1] == "avem_plugins.launch.launcher"
    # the worker parses the same values back
    s, t, m = L.parse_worker_args(plan.script_argv)
    assert (t.beta, t.max_steps, t.use_cpu, m.lora_r) == (0.7, 4, True, 8)
    assert s.dataset_name == "prefs.jsonl"


def test_accelerate_config_flag_and_recipe_default(tmp_path):
    own = tmp_path / "acc.yaml"
    own.write_text("compute_environment: LOCAL_MACHINE\n")
    recipe = _recipe(
        tmp_path, f"recipe: {{description: t, base: avem-tiny, accelerate_config: {own}}}\n"
    )
    plan = L.plan(["--recipe", recipe, *BASE])
    assert plan.launch_args == ["--config_file", str(own)]
    # the command line wins over the recipe; TRL's own names still work
    plan = L.plan(["--recipe", recipe, *BASE, "--accelerate_config", "multi_gpu"])
    assert plan.launch_args[0] == "--config_file"
    assert plan.launch_args[1].endswith("multi_gpu.yaml") and len(plan.launch_args) == 2
    plan = L.plan(["--recipe", recipe, *BASE, "--config_file", "x.yaml"])
    assert plan.launch_args == ["--config_file", "x.yaml"]


def test_help_shows_recipe_values_as_defaults(capsys):
    with pytest.raises(SystemExit) as info:
        L.plan(["--recipe", "avem-tiny", "-h"], prog="trl dpo")
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("usage: trl dpo")
    assert "Recipe avem-tiny" in out
    assert "--beta_er" in out and "--gamma_tpd" in out


def test_launch_runs_accelerate_with_the_plan_and_reports_errors(tmp_path, capsys):
    calls = []
    code = L.launch(["--recipe", "avem-tiny", *BASE], prog="avem dpo", runner=calls.append)
    assert code == 0
    (argv,) = calls
    assert "--module" in argv and argv[-len(BASE) :] == BASE

    code = L.launch(["--recipe", "no-such"], prog="avem dpo", runner=calls.append)
    assert code == 2 and len(calls) == 1
    assert "avem dpo: error: no recipe named 'no-such'" in capsys.readouterr().err

    def failing(argv):
        import subprocess

        raise subprocess.CalledProcessError(3, argv)

    assert L.launch(["--recipe", "avem-tiny", *BASE], runner=failing) == 3


def test_invalid_recipe_stops_before_launch(tmp_path, capsys):
    recipe = _recipe(tmp_path, "recipe: {description: t}\nbetta: 1\n")
    calls = []
    assert L.launch(["--recipe", recipe, *BASE], runner=calls.append) == 2
    assert not calls
    assert "unknown key 'betta'" in capsys.readouterr().err


def test_dataclass_errors_are_one_line_errors(capsys):
    calls = []
    code = L.launch([*BASE, "--bf16", "true", "--fp16", "true", "--use_cpu"], runner=calls.append)
    assert code == 2 and not calls
    assert "avem dpo: error: At most one of fp16 and bf16" in capsys.readouterr().err


def test_accelerate_gets_the_values_it_would_warn_about(monkeypatch, tmp_path):
    import accelerate.commands.config as accelerate_config

    monkeypatch.setattr(accelerate_config, "default_config_file", str(tmp_path / "none.yaml"))
    args = L.accelerate_launch_args(["--mixed_precision", "bf16"], None)
    assert args[:2] == ["--mixed_precision", "bf16"]  # the user's value is kept, not repeated
    assert args.count("--mixed_precision") == 1
    for flag in ("--num_processes", "--num_machines", "--dynamo_backend"):
        assert args.count(flag) == 1
    assert int(args[args.index("--num_processes") + 1]) >= 1
    # a config file (given, or accelerate's own default one) holds those values: add nothing
    assert L.accelerate_launch_args(["--config_file", "x.yaml"], None) == [
        "--config_file",
        "x.yaml",
    ]
    (tmp_path / "none.yaml").write_text("{}")
    assert L.accelerate_launch_args([], None) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--model_name_or_path": None}, "--model_name_or_path is required"),
        ({"--dataset_name": None}, "--dataset_name is required"),
        ({"--dataset_name": "missing.jsonl"}, "--dataset_name missing.jsonl: no such file"),
        ({"--dataset_name": "empty.jsonl"}, "empty.jsonl: no preference rows"),
        ({"--dataset_name": "bad.jsonl"}, "bad.jsonl line 1: field 'rejected' is missing"),
    ],
)
def test_flags_and_the_preference_file_are_checked_before_launch(tmp_path, capsys, change, message):
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "bad.jsonl").write_text(json.dumps({"prompt": "Feel?", "chosen": "Calm."}) + "\n")
    flags = dict(zip(BASE[::2], BASE[1::2], strict=True)) | change
    argv = [item for k, v in flags.items() if v is not None for item in (k, v)]
    launched: list[list[str]] = []
    assert L.launch(["--recipe", "avem-tiny", *argv], runner=launched.append) == 2
    assert launched == []  # nothing started, no model loaded
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
