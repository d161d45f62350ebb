"""``avem study``: several recipes from one starting model, several seeds, one table.

What it runs, all through the real command lines a user would type:

1. **Setup.** With no ``--model``, the embedded default: a controlled cue world
   (:mod:`avem_plugins.testing.demo_data`, docs/STUDY.md) and its starting model
   (:mod:`avem_plugins.study_world`). With ``--model``, ``--prefs`` and the task data in the
   environment, a real setup (a lab's cluster run).
2. **The start** is evaluated with ``lmms-eval --model avem_av`` twice: with its media and
   with the media withheld (the text-only probe); its preconditions are measured then.
3. For every seed and recipe: ``trl dpo --recipe NAME ... --seed S`` (LoRA), then
   ``lmms-eval --model avem_av`` on the trained adapter (media, text-only). Several models
   go through one ``lmms-eval --config LIST.yaml`` process (lmms-eval runs a YAML list of
   configurations in order) to pay its start-up once.
4. The table (:mod:`avem_plugins.study_table`): mean ± 95% interval per recipe, marks where
   the difference from the baseline recipe (``naive-dpo``) has a 95% interval excluding 0,
   and an HTML report with plots.

**Resumable**: each finished step leaves files (a trained adapter and ``train.json``; an
lmms-eval results file per evaluation); running the same command again skips them and
continues. ``study.json`` holds the protocol; a folder holding another protocol is refused.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: The paper's Table 3/5 rows (``base`` is the starting model, always first).
DEFAULT_RECIPES: tuple[str, ...] = (
    "naive-dpo",
    "avem",
    "avem-no-tpd",
    "avem-no-pmp",
    "avem-no-erp",
)
BASE = "base"
BASELINE = "naive-dpo"

#: The tiny model's evaluation arguments (lmms-eval ``--model_args``), besides pretrained/modalities.
TINY_EVAL_ARGS = "device=cpu,video_max_pixels=4096,num_frames=4,batch_size=8"


class StudyError(RuntimeError):
    """A study step failed or the study folder cannot be used; the message says why."""


@dataclass(frozen=True)
class TrainProfile:
    """How each recipe is trained in a study (the recipe supplies the objective).

    ``values`` go into a ``--config`` YAML given to ``trl dpo``: they override the recipe's
    optimisation settings, never its objective (β, β_er, β_vr, γ_TPD, λ_av, mismatch).
    """

    steps: int
    values: dict[str, Any] = field(default_factory=dict)


#: The embedded default's training: the avem-tiny recipe's CPU settings (fp32, LoRA r 8 on the
#: LM's attention), the same frames and pixel cap as the evaluation.
TINY_PROFILE_VALUES: dict[str, Any] = {
    "use_cpu": True,
    "bf16": False,
    "activation_checkpointing": False,
    "dtype": "float32",
    "learning_rate": 1.0e-3,
    "lr_scheduler_type": "constant",
    "warmup_steps": 0,
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 1,
    "num_frames": 4,
    "adapter_kwargs": json.dumps({"video_max_pixels": 4096}),
    "lora_target_modules": [r".*language_model\.layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj|o_proj)"],
    "logging_steps": 1,
    "save_strategy": "no",
    "report_to": "none",
    "dataloader_num_workers": 0,
}  # fmt: skip


@dataclass
class StudyConfig:
    """Everything ``avem study`` does; each field has a CLI flag."""

    out: Path = Path("avem-study")
    recipes: tuple[str, ...] = DEFAULT_RECIPES
    seeds: int = 3
    first_seed: int = 0
    baseline: str = BASELINE
    quick: bool = False
    # the embedded default
    world: str = "A"
    family: str = "qwen2_5_omni"
    # a real setup
    model: str | None = None
    prefs: Path | None = None
    media_root: Path | None = None
    tasks: str = "emorealm"
    model_args: str = ""
    train_config: Path | None = None
    train_args: tuple[str, ...] = ()
    accelerate_config: str | None = None
    gpus: int | None = None
    steps: int | None = None
    #: models per ``lmms-eval`` process (0: all runs of a seed; the real-setup default is 1)
    eval_group: int | None = None
    text_probe: bool = True
    #: evaluate everything (start included) in one lmms-eval process after all training
    eval_at_end: bool = False
    #: embedded default: ``(eval, preference, pretraining)`` clips instead of the world's
    world_sizes: tuple[int, int, int] | None = None
    #: embedded default: warm-up steps instead of :class:`WarmupConfig`'s
    warmup_steps: int | None = None

    @property
    def embedded(self) -> bool:
        return self.model is None


@dataclass
class Protocol:
    """The frozen part of a study: what makes two runs of ``avem study`` the same study."""

    recipes: list[str]
    seeds: list[int]
    baseline: str
    world: dict[str, Any] | None
    warmup: dict[str, Any] | None
    model: str
    prefs: str
    tasks: str
    eval_model_args: str
    train_profile: dict[str, Any]
    train_args: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


#: ``--quick``: the same pipeline at CI size: 2 recipes, 2 seeds, a small world, few steps,
#: one lmms-eval process at the end.
QUICK_RECIPES: tuple[str, ...] = ("naive-dpo", "avem")
QUICK_SEEDS = 2
QUICK_STEPS = 3
QUICK_WARMUP_STEPS = 150
QUICK_WORLD_SIZES = (6, 12, 16)
#: The embedded default's preference-training steps per run: one epoch over world A's 240
#: preference rows at 4 rows per step, as the paper trains one epoch (docs/STUDY.md §3).
DEFAULT_STEPS = 60


def _tool(name: str) -> str:
    local = Path(sys.executable).with_name(name)
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise StudyError(f"`{name}` is not installed in this environment ({sys.executable})")
    return found


def find_results(folder: Path) -> Path | None:
    found = sorted(folder.rglob("*_results.json"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


@dataclass
class RunSpec:
    """One trained model of the study (or the start: ``recipe == BASE``, ``seed is None``)."""

    recipe: str
    seed: int | None
    folder: Path

    @property
    def name(self) -> str:
        return self.recipe if self.seed is None else f"{self.recipe} seed {self.seed}"

    @property
    def model_dir(self) -> Path:
        return self.folder / "model"

    def eval_dir(self, modalities: str) -> Path:
        return self.folder / "eval" / modalities

    def results(self, modalities: str) -> Path | None:
        folder = self.eval_dir(modalities)
        return find_results(folder) if folder.exists() else None

    @property
    def trained(self) -> bool:
        return (self.folder / "train.json").exists()


class Study:
    """A study folder: its protocol, its runs, and the steps still to do."""

    def __init__(self, config: StudyConfig, echo: Callable[[str], None] = print) -> None:
        self.config = config
        self.echo = echo
        self.out = config.out.resolve()
        self.clock = time.perf_counter()
        self.durations: dict[str, list[float]] = {"train": [], "eval": []}
        self.env = dict(os.environ)
        self.env.update(HF_HUB_OFFLINE=self.env.get("HF_HUB_OFFLINE", "1"),
                        HF_DATASETS_OFFLINE=self.env.get("HF_DATASETS_OFFLINE", "1"),
                        TOKENIZERS_PARALLELISM="false")  # fmt: skip
        if config.embedded:
            # the tiny model gains nothing from threads, and threads fight on shared CPUs
            self.env.setdefault("OMP_NUM_THREADS", "1")
        recipes = tuple(config.recipes)
        seeds = config.seeds
        if config.quick:
            recipes = QUICK_RECIPES if recipes == DEFAULT_RECIPES else recipes
            seeds = min(seeds, QUICK_SEEDS)
            config.eval_at_end = True
            config.world_sizes = config.world_sizes or QUICK_WORLD_SIZES
            config.warmup_steps = config.warmup_steps or QUICK_WARMUP_STEPS
        if config.baseline not in recipes:
            recipes = (config.baseline, *recipes)
        self.recipes = list(dict.fromkeys(recipes))
        self.seeds = list(range(config.first_seed, config.first_seed + seeds))
        self.start = RunSpec(BASE, None, self.out / "runs" / BASE)
        self.runs = [
            RunSpec(r, s, self.out / "runs" / r / f"seed_{s}")
            for s in self.seeds
            for r in self.recipes
        ]
        self.protocol: Protocol | None = None
        self.model = ""
        self.prefs: Path | None = None
        self.media_root: Path | None = None

    # --- progress ---------------------------------------------------------------------

    def elapsed(self) -> str:
        return _minutes(time.perf_counter() - self.clock)

    def eta(self) -> str:
        todo_train = sum(not r.trained for r in self.runs)
        todo_eval = sum(not self.evaluated(r) for r in [self.start, *self.runs])
        t_train = _avg(self.durations["train"], 90.0)
        t_eval = _avg(self.durations["eval"], 45.0)
        left = todo_train * t_train + todo_eval * t_eval
        return f"~{_minutes(left)} left" if left else "nothing left"

    def say(self, text: str) -> None:
        done = sum(r.trained for r in self.runs) + sum(
            self.evaluated(r) for r in [self.start, *self.runs]
        )
        total = 2 * len(self.runs) + 1
        self.echo(f"[study {done}/{total} steps, {self.elapsed()}, {self.eta()}] {text}")

    # --- setup --------------------------------------------------------------------------

    def evaluated(self, run: RunSpec) -> bool:
        mods = ["av", "text"] if self.config.text_probe else ["av"]
        return all(run.results(m) is not None for m in mods)

    def setup(self) -> None:
        """The starting model and data, and the protocol (checked against a previous run)."""
        from avem_plugins.study_world import WarmupConfig, prepare_world
        from avem_plugins.testing import demo_data

        cfg = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        world_desc = warm_desc = None
        if cfg.embedded:
            spec = demo_data.get_world(cfg.world)
            if cfg.world_sizes:
                n_eval, n_pref, n_pre = cfg.world_sizes
                spec = spec.scaled(eval_clips=n_eval, pref_clips=n_pref, pretrain_clips=n_pre)
            warm = WarmupConfig(steps=cfg.warmup_steps) if cfg.warmup_steps else WarmupConfig()
            world_desc, warm_desc = spec.describe(), vars(warm)
            self.check_protocol(self.make_protocol(world_desc, warm_desc, "(world start model)"),
                                partial=True)  # fmt: skip
            self.say(f"setting up world {spec.name} and its starting model")
            prepared = prepare_world(spec, self.out / "world", family=cfg.family,
                                     warmup_config=warm, echo=self.echo)  # fmt: skip
            self.model = str(prepared.model)
            self.prefs, self.media_root = prepared.files.prefs, prepared.files.pref_root
            self.env.update(EMOREALM_JSON=str(prepared.files.questions),
                            DFEW_ROOT=str(prepared.files.bench_root))  # fmt: skip
            self.env.pop("DFEW_AUDIO_ROOT", None)
        else:
            if cfg.prefs is None:
                raise StudyError("--model needs --prefs (the preference file to train on)")
            self.model, self.prefs = cfg.model or "", cfg.prefs.resolve()
            self.media_root = cfg.media_root.resolve() if cfg.media_root else None
        self.protocol = self.make_protocol(world_desc, warm_desc, self.model)
        self.check_protocol(self.protocol)

    def profile(self) -> TrainProfile:
        cfg = self.config
        if cfg.embedded:
            steps = cfg.steps or (QUICK_STEPS if cfg.quick else DEFAULT_STEPS)
            return TrainProfile(steps, dict(TINY_PROFILE_VALUES))
        values: dict[str, Any] = {}
        if cfg.train_config:
            import yaml

            values = yaml.safe_load(cfg.train_config.read_text(encoding="utf-8")) or {}
        return TrainProfile(cfg.steps or 0, values)

    def eval_model_args(self) -> str:
        cfg = self.config
        base = TINY_EVAL_ARGS if cfg.embedded else ""
        return ",".join(a for a in (base, cfg.model_args) if a)

    def make_protocol(self, world: Any, warm: Any, model: str) -> Protocol:
        prof = self.profile()
        return Protocol(
            recipes=self.recipes, seeds=self.seeds, baseline=self.config.baseline,
            world=world, warmup=warm, model=model,
            prefs=str(self.prefs or self.config.prefs or "(world preference file)"),
            tasks=self.config.tasks, eval_model_args=self.eval_model_args(),
            train_profile={"steps": prof.steps, **prof.values},
            train_args=list(self.config.train_args),
        )  # fmt: skip

    def check_protocol(self, protocol: Protocol, *, partial: bool = False) -> None:
        path = self.out / "study.json"
        mine = protocol.to_json()
        if path.exists():
            theirs = json.loads(path.read_text(encoding="utf-8")).get("protocol", {})
            keys = ["recipes", "seeds", "baseline", "world", "warmup", "tasks",
                    "eval_model_args", "train_profile", "train_args"]  # fmt: skip
            if not partial:
                keys += ["model", "prefs"]
            diff = [k for k in keys if theirs.get(k) != mine.get(k)]
            if diff:
                raise StudyError(
                    f"{self.out} holds a study with another protocol (differs in: {', '.join(diff)}); "
                    "resume it with the same options, or pass another --out"
                )
            return
        if not partial:
            path.write_text(json.dumps({"protocol": mine}, indent=1), encoding="utf-8")

    # --- steps --------------------------------------------------------------------------

    def run_logged(self, argv: Sequence[str], log: Path) -> int:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as fh:
            fh.write(f"$ {shlex.join(argv)}\n")
            fh.flush()
            proc = subprocess.run(
                list(argv), stdout=fh, stderr=subprocess.STDOUT, env=self.env, check=False
            )
        return proc.returncode

    def fail(self, what: str, code: int, log: Path) -> StudyError:
        tail = "".join(log.read_text(encoding="utf-8", errors="replace").splitlines(True)[-25:])
        return StudyError(f"{what} failed (exit {code}); log: {log}\n{tail}")

    def train(self, run: RunSpec) -> None:
        assert run.seed is not None and self.prefs is not None
        cfg, prof = self.config, self.profile()
        if run.folder.exists():
            shutil.rmtree(run.folder)  # an unfinished run starts again
        run.folder.mkdir(parents=True)
        argv = [_tool("trl"), "dpo", "--recipe", run.recipe, "--model_name_or_path", self.model,
                "--dataset_name", str(self.prefs), "--output_dir", str(run.model_dir),
                "--seed", str(run.seed)]  # fmt: skip
        if prof.values:
            import yaml

            conf = run.folder / "train_profile.yaml"
            conf.write_text(yaml.safe_dump(prof.values, sort_keys=True), encoding="utf-8")
            argv += ["--config", str(conf)]
        if prof.steps:
            argv += ["--max_steps", str(prof.steps)]
        if self.media_root is not None:
            argv += ["--media_root", str(self.media_root)]
        if cfg.accelerate_config:
            argv += ["--accelerate_config", cfg.accelerate_config]
        if cfg.gpus:
            argv += ["--num_processes", str(cfg.gpus)]
        argv += list(cfg.train_args)
        self.say(f"training {run.name}: trl dpo --recipe {run.recipe}")
        t = time.perf_counter()
        log = run.folder / "train.log"
        code = self.run_logged(argv, log)
        if code != 0:
            raise self.fail(f"training {run.name}", code, log)
        seconds = time.perf_counter() - t
        self.durations["train"].append(seconds)
        (run.folder / "train.json").write_text(
            json.dumps({"argv": argv, "seconds": seconds, "recipe": run.recipe, "seed": run.seed}, indent=1),
            encoding="utf-8",
        )  # fmt: skip
        self.echo(f"    trained {run.name} in {seconds:.0f} s")

    def pretrained(self, run: RunSpec) -> str:
        return self.model if run.recipe == BASE else str(run.model_dir)

    def evaluate(self, runs: Sequence[RunSpec], label: str) -> None:
        """Evaluate ``runs`` (their missing modalities) in one ``lmms-eval --config`` process."""
        import yaml

        mods = ["av", "text"] if self.config.text_probe else ["av"]
        entries, todo = [], []
        for run in runs:
            for m in mods:
                if run.results(m) is not None:
                    continue
                args = f"pretrained={self.pretrained(run)},modalities={m}"
                extra = self.eval_model_args()
                journal = run.folder / "journal" / m
                entries.append({
                    "model": "avem_av",
                    "model_args": ",".join(a for a in (args, extra, f"journal={journal}") if a),
                    "tasks": self.config.tasks,
                    "output_path": str(run.eval_dir(m)),
                    "log_samples": True,
                })  # fmt: skip
                todo.append((run, m))
        if not entries:
            return
        conf_dir = self.out / "eval_configs"
        conf_dir.mkdir(parents=True, exist_ok=True)
        conf = conf_dir / f"{label}.yaml"
        conf.write_text(yaml.safe_dump(entries, sort_keys=False), encoding="utf-8")
        argv = [_tool("lmms-eval"), "--config", str(conf)]
        if self.config.gpus and self.config.gpus > 1:
            argv = [_tool("accelerate"), "launch", "--num_processes", str(self.config.gpus),
                    "-m", "lmms_eval", "--config", str(conf)]  # fmt: skip
        names = ", ".join(sorted({r.name for r, _ in todo}))
        self.say(f"evaluating {names} ({len(entries)} lmms-eval runs in one process)")
        log = self.out / "logs" / f"eval_{label}.log"
        t = time.perf_counter()
        code = self.run_logged(argv, log)
        missing = [(r, m) for r, m in todo if r.results(m) is None]
        if code != 0 or missing:
            raise self.fail(f"evaluating {names}", code, log)
        seconds = time.perf_counter() - t
        per_model = seconds / max(1, len({id(r) for r, _ in todo}))
        self.durations["eval"].extend([per_model] * len({id(r) for r, _ in todo}))
        self.echo(f"    evaluated {names} in {seconds:.0f} s")

    # --- the whole study ----------------------------------------------------------------

    def groups(self, seed: int) -> list[list[RunSpec]]:
        runs = [r for r in self.runs if r.seed == seed]
        size = self.config.eval_group
        if size is None:
            size = 0 if self.config.embedded else 1
        if size <= 0:
            return [runs]
        return [runs[i : i + size] for i in range(0, len(runs), size)]

    def run(self) -> dict[str, Path]:
        self.setup()
        # --quick (and the demo) pay lmms-eval's start-up once: every model in one process
        at_end = self.config.eval_at_end
        if not at_end:
            if not self.evaluated(self.start):
                self.evaluate([self.start], "base")
            self.report_preconditions()
        for seed in self.seeds:
            for group in self.groups(seed):
                for run in group:
                    if not run.trained:
                        self.train(run)
                pending = [r for r in group if not self.evaluated(r)]
                if pending and not at_end:
                    self.evaluate(pending, f"seed_{seed}_{pending[0].recipe}")
        if at_end:
            pending = [r for r in [self.start, *self.runs] if not self.evaluated(r)]
            if pending:
                self.evaluate(pending, "all")
            self.report_preconditions()
        return self.write_report()

    def report_preconditions(self) -> None:
        from avem_plugins.study_table import preconditions

        checks = preconditions(self.load(self.start))
        self.echo("    preconditions on the starting model (before preference training):")
        for p in checks:
            value = "n/a" if p.value is None else f"{100 * p.value:.1f}%"
            self.echo(
                f"      {'ok  ' if p.holds else 'FAIL'} {p.text}: {value} (needs ≥ {100 * p.threshold:.0f}%)"
            )

    def load(self, run: RunSpec) -> Any:
        from avem_plugins.study_table import Evaluated

        av = run.results("av")
        if av is None:
            raise StudyError(f"{run.name} has no evaluation results yet")
        return Evaluated.load(av, run.results("text") if self.config.text_probe else None)

    def write_report(self) -> dict[str, Path]:
        """Build the table from every finished run and write the report."""
        from avem_plugins.study_table import build_table, column_values, preconditions
        from avem_plugins.study_table import write_report as write

        rows: dict[str, list[dict[str, float | None]]] = {
            BASE: [column_values(self.load(self.start))]
        }
        sources: dict[str, list[dict[str, str]]] = {BASE: [self._sources(self.start)]}
        for run in self.runs:
            if self.evaluated(run):
                rows.setdefault(run.recipe, []).append(column_values(self.load(run)))
                sources.setdefault(run.recipe, []).append(self._sources(run))
        order = [BASE, *[r for r in self.recipes if r in rows]]
        table = build_table(
            rows, order, self.config.baseline if self.config.baseline in rows else None
        )
        checks = preconditions(self.load(self.start))
        manifest = {
            "command": " ".join(["avem", "study", *sys.argv[2:]]) if sys.argv[1:2] == ["study"] else "avem study",
            "protocol": self.protocol.to_json() if self.protocol else {},
            "task_versions": self.task_versions(),
            "finished_runs": {r: len(v) for r, v in rows.items()},
            "elapsed_s": round(time.perf_counter() - self.clock, 1),
        }  # fmt: skip
        paths = write(
            self.out / "report", table=table, checks=checks, manifest=manifest, sources=sources
        )
        self.echo(table.markdown())
        self.echo(f"report: {paths['html']}  (and {paths['markdown']})")
        return paths

    def _sources(self, run: RunSpec) -> dict[str, str]:
        out = {
            "seed": "" if run.seed is None else str(run.seed),
            "av": str(run.results("av") or ""),
        }
        if self.config.text_probe:
            out["text"] = str(run.results("text") or "")
        return out

    def task_versions(self) -> dict[str, Any]:
        """The task versions and generation settings every results file recorded (one entry
        per distinct protocol: more than one means the runs are not comparable)."""
        seen: dict[str, list[str]] = {}
        for run in [self.start, *self.runs]:
            for m in ("av", "text"):
                path = run.results(m)
                if path is None:
                    continue
                data = json.loads(path.read_text(encoding="utf-8"))
                configs = data.get("configs", {})
                key = json.dumps({
                    "versions": data.get("versions", {}),
                    "generation_kwargs": {t: c.get("generation_kwargs") for t, c in configs.items()},
                    "prompt": {t: c.get("lmms_eval_specific_kwargs") for t, c in configs.items()},
                }, sort_keys=True, default=str)  # fmt: skip
                seen.setdefault(key, []).append(f"{run.name}/{m}")
        return {"distinct_protocols": len(seen),
                "protocols": [{**json.loads(k), "runs": v} for k, v in seen.items()]}  # fmt: skip


def _avg(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def run_study(config: StudyConfig, echo: Callable[[str], None] = print) -> dict[str, Path]:
    """Run (or resume) a study; returns the report's paths."""
    return Study(config, echo).run()
