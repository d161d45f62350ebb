"""``avem demo``: evaluate → train → re-evaluate → report, on an embedded default.

Everything runs through the real tools, as a user would run them:

1. build a tiny random-weight Qwen2.5-Omni thinker and its processor (``avem tiny-model``);
2. write a small synthetic audiovisual-emotion world (:mod:`avem_plugins.testing.demo_data`): an
   EmoReAlM-format benchmark over a DFEW-style clip tree (with stress questions whose wording
   suggests the wrong answer) and an AVEm-DPO preference file on separate clips;
3. optionally warm the random model up with a short supervised pass on separate clips, so it
   answers in the benchmark's format at all (a random model rarely names an option);
4. evaluate with the ``lmms-eval`` CLI: ``--model avem_av --tasks emorealm`` with
   ``modalities=av`` and the text-only probe ``modalities=text``;
5. train with ``trl dpo --recipe avem-tiny`` (LoRA);
6. re-evaluate the trained adapter the same two ways;
7. write ``report/report.md`` and ``report/report.html`` (``avem report``).

The model is tiny and random: the demo shows the pipeline working end to end and reports
whatever the numbers are. It does not reproduce the paper.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avem_plugins.testing import demo_data

#: Model arguments that keep the tiny model fast (few visual tokens, short answers).
TINY_MODEL_ARGS = "device=cpu,video_max_pixels=4096,max_new_tokens=8,batch_size=8"


class DemoError(RuntimeError):
    """A demo step failed; the message names the step and where its log is."""


@dataclass
class DemoConfig:
    """What ``avem demo`` does; every field has a CLI flag."""

    out: Path = Path("avem-demo")
    family: str = "qwen2_5_omni"
    eval_clips: int = 16
    train_clips: int = 32
    warmup_steps: int = 150
    train_steps: int = 20
    seed: int = 0
    force: bool = False


@dataclass
class DemoResult:
    """Paths and timings of a finished demo."""

    out: Path
    results: dict[str, Path] = field(default_factory=dict)
    report: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    summary: str = ""


def _tool(name: str) -> str:
    """A console script of this environment (``lmms-eval``, ``trl``), else from PATH."""
    local = Path(sys.executable).with_name(name)
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise DemoError(f"`{name}` is not installed in this environment ({sys.executable})")
    return found


def _run(
    step: str, argv: Sequence[str], log: Path, env: dict[str, str], echo: Callable[[str], None]
) -> None:
    """Run one CLI step, streaming its output to ``log``; raise with the log's tail on failure."""
    echo(f"    $ {' '.join(argv)}")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.run(list(argv), stdout=fh, stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode != 0:
        tail = "".join(log.read_text(encoding="utf-8", errors="replace").splitlines(True)[-30:])
        raise DemoError(f"step '{step}' failed (exit {proc.returncode}); log: {log}\n{tail}")


def warmup(
    model_dir: Path,
    rows: Sequence[dict[str, Any]],
    media_root: Path,
    out_dir: Path,
    *,
    steps: int,
    seed: int = 0,
    batch_size: int = 8,
    lr: float = 3e-3,
    echo: Callable[[str], None] = print,
) -> Path:
    """A short supervised pass (full fine-tune of the tiny model) on (question, answer) rows.

    Uses the same model adapter as evaluation and training, so the warm-up sees exactly the
    prompt format ``avem_av`` will use. Saves model + processor to ``out_dir``.
    """
    import torch

    from avem_plugins.adapters.base import Example
    from avem_plugins.media import decode_clip
    from avem_plugins.modality import parse_modalities
    from avem_plugins.registry import get_adapter

    torch.manual_seed(seed)
    from transformers import AutoConfig

    adapter = get_adapter("auto", AutoConfig.from_pretrained(model_dir), video_max_pixels=4096)
    loaded = adapter.load(str(model_dir), dtype="float32", device="cpu")
    model, processor = loaded.model, loaded.processor
    model.train()
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    rng = random.Random(seed)
    mods = parse_modalities("av")
    post = "\nAnswer with the option's letter from the given choices directly."
    start = time.perf_counter()
    for step in range(1, steps + 1):
        batch = rng.sample(list(rows), min(batch_size, len(rows)))
        examples = [
            Example(
                prompt=row["prompt"] + post,
                media=decode_clip(video=media_root / row["video"], num_frames=8).to_media(),
                response=row["response"],
            )
            for row in batch
        ]
        enc = adapter.training_rows(processor, examples, modalities=mods)
        logits = model(**adapter.model_inputs(enc)).logits[:, :-1].float()
        target = enc["input_ids"][:, 1:]
        mask = enc["completion_mask"][:, 1:].bool()
        loss = torch.nn.functional.cross_entropy(logits[mask], target[mask])
        optim.zero_grad()
        loss.backward()
        optim.step()
        if step == 1 or step % 25 == 0 or step == steps:
            echo(
                f"    warm-up step {step}/{steps}  loss {loss.item():.3f}  ({time.perf_counter() - start:.0f} s)"
            )
    model.eval()
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def _latest_results(folder: Path) -> Path:
    found = sorted(folder.rglob("*_results.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise DemoError(f"lmms-eval wrote no results under {folder}")
    return found[-1]


def run_demo(config: DemoConfig, echo: Callable[[str], None] = print) -> DemoResult:
    """Run the whole demo; see the module docstring."""
    out = config.out.resolve()
    if out.exists() and any(out.iterdir()):
        if not config.force:
            raise DemoError(
                f"{out} exists and is not empty: pass --force to replace it, or --out DIR"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult(out=out)
    clock = time.perf_counter()
    total = 7

    def step(i: int, text: str) -> None:
        echo(f"[demo {i}/{total}] {text}  (t={time.perf_counter() - clock:.0f} s)")

    echo(
        "avem demo: a TINY RANDOM-WEIGHT model on synthetic clips. It exercises the real "
        "pipeline (lmms-eval CLI, trl dpo --recipe avem-tiny, avem report); its numbers say "
        "nothing about the paper's models."
    )
    from avem_plugins.testing.tiny import build_tiny_model

    step(1, f"building a tiny {config.family} model")
    t = time.perf_counter()
    base = build_tiny_model(out / "models" / "tiny", family=config.family, seed=config.seed)
    result.seconds["build model"] = time.perf_counter() - t

    step(
        2,
        f"writing the synthetic world ({config.eval_clips} eval clips, {config.train_clips} training clips)",
    )
    t = time.perf_counter()
    bench_root = out / "data" / "bench"
    eval_clips = demo_data.write_world(bench_root, config.eval_clips, seed=config.seed)
    items = demo_data.benchmark_items(eval_clips, seed=config.seed)
    questions = out / "data" / "emorealm_demo.json"
    questions.write_text(json.dumps(items, indent=1), encoding="utf-8")
    train_root = out / "data" / "train"
    train_clips = demo_data.write_world(
        train_root, config.train_clips, seed=config.seed + 1, first_id=10_000
    )
    prefs = demo_data.write_jsonl(
        out / "data" / "prefs.jsonl", demo_data.preference_rows(train_clips, train_root)
    )
    result.seconds["synthetic data"] = time.perf_counter() - t

    model = base
    if config.warmup_steps > 0:
        step(3, f"supervised warm-up, {config.warmup_steps} steps on the training clips")
        t = time.perf_counter()
        model = warmup(
            base,
            demo_data.warmup_rows(train_clips),
            train_root,
            out / "models" / "warm",
            steps=config.warmup_steps,
            seed=config.seed,
            echo=echo,
        )
        result.seconds["warm-up"] = time.perf_counter() - t
    else:
        step(3, "warm-up skipped (--warmup-steps 0)")

    env = dict(os.environ)
    env.update(
        EMOREALM_JSON=str(questions),
        DFEW_ROOT=str(bench_root),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    env.pop("DFEW_AUDIO_ROOT", None)
    lmms_eval = _tool("lmms-eval")

    def evaluate(tag: str, pretrained: Path) -> None:
        for modalities in ("av", "text"):
            name = f"{tag}_{modalities}"
            folder = out / "eval" / name
            t = time.perf_counter()
            _run(
                f"evaluate {name}",
                [
                    lmms_eval,
                    "--model",
                    "avem_av",
                    "--model_args",
                    f"pretrained={pretrained},modalities={modalities},{TINY_MODEL_ARGS}",
                    "--tasks",
                    "emorealm",
                    "--output_path",
                    str(folder),
                    "--log_samples",
                ],
                out / "logs" / f"eval_{name}.log",
                env,
                echo,
            )
            result.results[name] = _latest_results(folder)
            result.seconds[f"eval {name}"] = time.perf_counter() - t

    step(
        4,
        "evaluating before training: lmms-eval --model avem_av --tasks emorealm (av, then text-only)",
    )
    evaluate("before", model)

    step(5, f"training: trl dpo --recipe avem-tiny ({config.train_steps} steps, LoRA)")
    t = time.perf_counter()
    trained = out / "models" / "avem-dpo"
    _run(
        "train",
        [
            _tool("trl"),
            "dpo",
            "--recipe",
            "avem-tiny",
            "--model_name_or_path",
            str(model),
            "--dataset_name",
            str(prefs),
            "--media_root",
            str(train_root),
            "--output_dir",
            str(trained),
            "--max_steps",
            str(config.train_steps),
            "--seed",
            str(config.seed),
        ],
        out / "logs" / "train.log",
        env,
        echo,
    )
    result.seconds["train"] = time.perf_counter() - t

    step(6, "evaluating the trained adapter (av, then text-only)")
    evaluate("after", trained)

    step(7, "writing the report")
    from avem_plugins.report import report

    names = ["before_av", "after_av", "before_text", "after_text"]
    result.report = report([result.results[n] for n in names], out / "report", labels=names)
    result.summary = summarize(result)
    (out / "report" / "timings.json").write_text(json.dumps(result.seconds, indent=1))
    echo(result.summary)
    echo(f"report: {result.report['html']}  (and {result.report['markdown']})")
    echo(f"done in {time.perf_counter() - clock:.0f} s")
    return result


def changed_answers(before: Path, after: Path) -> tuple[int, int]:
    """How many of the answers logged next to two results files differ: ``(changed, total)``."""

    def answers(results: Path) -> dict[tuple[str, int], str]:
        out = {}
        for path in results.parent.glob("*_samples_*.jsonl"):
            task = path.stem.split("_samples_", 1)[1]
            for line in path.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                out[(task, int(entry["doc_id"]))] = str(entry["filtered_resps"])
        return out

    first, second = answers(before), answers(after)
    shared = first.keys() & second.keys()
    return sum(first[k] != second[k] for k in shared), len(shared)


def training_log(log: Path) -> list[dict[str, str]]:
    """The metrics dicts the trainer printed (``{'loss': ..., 'rewards/margins': ...}``)."""
    import ast
    import re

    text = log.read_text(encoding="utf-8", errors="replace")
    return [ast.literal_eval(m) for m in re.findall(r"\{'loss': [^{}]*\}", text)]


def summarize(result: DemoResult) -> str:
    """A plain-text table of the EmoReAlM scores before and after training."""
    from avem_plugins.report import load_run

    runs = {name: load_run(path) for name, path in result.results.items()}
    tasks = [t for t in runs["before_av"].metrics if t.startswith("emorealm")]
    lines = [
        f"{'task':42s} {'before av':>10s} {'after av':>10s} {'before text':>12s} {'after text':>11s}"
    ]
    for task in tasks:
        cells = []
        for name in ("before_av", "after_av", "before_text", "after_text"):
            value = runs[name].value(task, "accuracy")
            cells.append("n/a" if value is None else f"{value:.3f}")
        lines.append(f"{task:42s} {cells[0]:>10s} {cells[1]:>10s} {cells[2]:>12s} {cells[3]:>11s}")
    unparsed = runs["after_av"].value("emorealm_reasoning_basic_audio", "unparsed_rate")
    if unparsed is not None:
        lines.append(f"(after-training unparsed answer rate on basic audio: {unparsed:.2f})")
    changed, total = changed_answers(result.results["before_av"], result.results["after_av"])
    lines.append(f"answers changed by training (av): {changed} of {total}")
    logged = training_log(result.out / "logs" / "train.log")
    if logged:
        first, last = logged[0], logged[-1]
        keys = ("loss", "rewards/margins", "rewards/accuracies", "loss/input", "tpd/offset")
        lines.append(
            "training, first -> last logged step: "
            + ", ".join(f"{k} {first.get(k, '?')} -> {last.get(k, '?')}" for k in keys)
        )
    return "\n".join(lines)
