"""AVEm-DPO training with the collator in DataLoader workers: decoding off the step's path.

::

    python bench/train_loader.py            # a few minutes on 2 CPU cores
    python bench/train_loader.py --quick    # well under a minute: checks the script runs

A DFEW or MAFW training epoch sees each clip once, so the media cache cannot help there: every
clip (and every mismatched input) is decoded when its batch is collated. With
``dataloader_num_workers`` the collator -- decoding, the processor, the rows -- runs in
DataLoader worker processes while the main process trains, so decoding should cost the step
no wall time. Measured here with real ``AVEmDPOTrainer.train()`` runs of the tiny
Qwen2.5-Omni thinker (LoRA, batch 2, one epoch over distinct DFEW-like 640x360 clips of
2-5 s, each sample's mismatched input another clip of the set) in four settings:

- ``workers=2, decoded in the workers``: the media cache is empty; every clip is decoded
  by the worker that collates its batch (the configuration the recipes use);
- ``workers=2, pre-decoded``: every clip is decoded into the cache before training (the
  forked workers inherit it): the same run with no decoding at all;
- ``workers=0`` with and without pre-decoding: the collator in the training loop.

Step time = the wall time between the ends of consecutive optimizer steps (so it includes
waiting for the next batch), median over the steps after the first ``--skip``. Runs are
alternated and repeated. Target: with 2 workers, decoding in the workers costs <= 5% step
time over pre-decoded media.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

TARGET = 1.05
SPECS = [(2.0, 24), (3.0, 25), (4.0, 30), (5.0, 25), (3.5, 30), (2.5, 25)]
QUESTIONS = [
    ("audio", "What emotion does the tone of the speaker's voice convey?"),
    ("visual", "What does the facial expression of the person say about the emotion?"),
    ("audiovisual", "How does the person in the video feel? Explain the cues."),
]
SETTINGS = {
    "workers=2, decoded in the workers": (2, False),
    "workers=2, pre-decoded": (2, True),
    "workers=0, decoded in the loop": (0, False),
    "workers=0, pre-decoded": (0, True),
}


def write_data(work: Path, n: int, size: tuple[int, int]) -> Path:
    """``n`` distinct clips and one preference row per clip (``video_l``: the next clip)."""
    from avem_plugins.testing.synth import EMOTION_CUES, write_clip

    folder = work / "clips"
    emotions = list(EMOTION_CUES)
    rows = []
    for i in range(n):
        seconds, fps = SPECS[i % len(SPECS)]
        path = folder / f"clip_{size[0]}x{size[1]}_{i:03d}.mp4"
        emotion = emotions[i % len(emotions)]
        if not path.is_file():
            visual, audio = EMOTION_CUES[emotion]
            tmp = path.with_suffix(".tmp.mp4")
            write_clip(tmp, visual_cue=visual, audio_cue=audio, seed=i, duration=seconds,
                       fps=fps, size=size)  # fmt: skip
            tmp.rename(path)
        modality, question = QUESTIONS[i % len(QUESTIONS)]
        rows.append(
            {
                "id": f"s{i}",
                "prompt": "<video>\n<audio>\n" + question,
                "chosen": f"The person shows {emotion}: the face and the voice agree.",
                "rejected": f"The person shows {emotion}: she is crying loudly.",
                "rejected_2": f"The person shows {emotion}: the background is dark.",
                "video": path.name,
                "video_l": f"clip_{size[0]}x{size[1]}_{(i + 1) % n:03d}.mp4",
                "modality": modality,
                "emotion": emotion,
            }
        )
    prefs = folder / "prefs.jsonl"
    prefs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return prefs


def one_run(
    model_dir: Path, prefs: Path, out: Path, workers: int, predecoded: bool, args: Any
) -> dict[str, Any]:
    from transformers import TrainerCallback

    from avem_plugins import media
    from avem_plugins.dpo.config import AVEmDPOConfig
    from avem_plugins.dpo.train import language_lora_config
    from avem_plugins.dpo.trainer import AVEmDPOTrainer
    from avem_plugins.prefs.schema import load_preference_dataset
    from avem_plugins.registry import get_adapter

    cache = media.default_cache()
    cache.clear()
    if predecoded:  # every clip and mismatched input, as the collator will ask for them
        for line in prefs.read_text().splitlines():
            row = json.loads(line)
            for key in ("video", "video_l"):
                media.decode_clip(prefs.parent / row[key], num_frames=args.num_frames)
    decodes_before = cache.stats["decodes"]
    begins: list[float] = []
    ends: list[float] = []

    class StepClock(TrainerCallback):
        def on_step_begin(self, *_: Any, **__: Any) -> None:
            begins.append(time.perf_counter())

        def on_step_end(self, *_: Any, **__: Any) -> None:
            ends.append(time.perf_counter())

    config = AVEmDPOConfig(
        output_dir=str(out), per_device_train_batch_size=2, num_train_epochs=1,
        learning_rate=1e-5, use_cpu=True, bf16=False, report_to="none", save_strategy="no",
        logging_steps=10**6, disable_tqdm=True, seed=0, num_frames=args.num_frames,
        dataloader_num_workers=workers, max_length=None,
    )  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):  # the trainer's start and end lines
        trainer = AVEmDPOTrainer(
            model=str(model_dir),
            args=config,
            train_dataset=load_preference_dataset(prefs),
            peft_config=language_lora_config(r=8, lora_alpha=32),
            adapter=get_adapter("qwen2_5_omni", video_max_pixels=args.video_max_pixels),
            callbacks=[StepClock()],
        )
        start = time.perf_counter()
        trainer.train()
        total = time.perf_counter() - start
    steps = [b - a for a, b in itertools.pairwise(ends)][args.skip :]
    # the batch wait: from the end of a step to the start of the next (the next batch's fetch)
    waits = [b - a for a, b in zip(ends, begins[1:], strict=False)][args.skip :]
    return {
        "step_s": _common.median(steps),
        "wait_s": _common.median(waits),
        "steps": steps,
        "waits": waits,
        "train_s": total,
        "main_process_decodes": cache.stats["decodes"] - decodes_before,
    }


def main(argv: list[str] | None = None) -> int:
    parser = _common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=None, help="clips = preference rows")
    parser.add_argument("--repeats", type=int, default=None, help="runs per setting (median)")
    parser.add_argument("--skip", type=int, default=2, help="first steps not timed")
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--size", default=None, help="WxH of the clips (default 640x360)")
    parser.add_argument("--video-max-pixels", type=int, default=4096)
    args = parser.parse_args(argv)
    args.samples = args.samples or (8 if args.quick else 32)
    args.repeats = args.repeats or (1 if args.quick else 2)
    size_text = args.size or ("160x120" if args.quick else "640x360")
    size = tuple(int(v) for v in size_text.lower().split("x"))
    if args.quick:
        args.skip = min(args.skip, 1)

    _common.offline_env()
    _common.quiet_native()
    _common.quiet()
    _common.set_threads(args.threads)
    info = _common.machine_info()
    _common.print_header(
        "bench/train_loader.py: AVEm-DPO steps with the collator in DataLoader workers",
        info,
        _common.versions("trl", "transformers", "torch", "av"),
    )
    with _common.workdir(args.workdir) as work:
        from avem_plugins.testing.tiny import build_tiny_model

        model_dir = build_tiny_model(work / "tiny-qwen2_5_omni")
        prefs = write_data(work, args.samples, size)  # type: ignore[arg-type]
        one_run(model_dir, prefs, work / "warm", 0, True, args)  # warm-up: imports, first calls
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SETTINGS}
        names = list(SETTINGS)
        for r in range(args.repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                workers, predecoded = SETTINGS[name]
                runs[name].append(
                    one_run(model_dir, prefs, work / "out", workers, predecoded, args)
                )
        steps = args.samples // 2
        print(
            f"\nruns: AVEmDPOTrainer.train() on a tiny Qwen2.5-Omni thinker (random weights, LoRA "
            f"r 8), {args.samples} distinct clips {size[0]}x{size[1]} of 2-5 s at 24-30 fps, "
            f"batch 2, one epoch ({steps} steps), {args.num_frames} frames, "
            f"video_max_pixels={args.video_max_pixels}; step time = median over steps "
            f"{args.skip + 2}-{steps} of each run, then the median of {args.repeats} alternated "
            "runs per setting"
        )
        summary = {name: _common.median([v["step_s"] for v in vals]) for name, vals in runs.items()}
        base = summary["workers=2, pre-decoded"]
        rows = [
            [name, summary[name], f"{summary[name] / base:.3f}",
             _common.median([v["wait_s"] for v in runs[name]]),
             _common.median([v["train_s"] for v in runs[name]]),
             runs[name][0]["main_process_decodes"]]
            for name in SETTINGS
        ]  # fmt: skip
        print(
            _common.table(
                ["setting", "step s", "x pre-decoded (2 workers)", "batch wait s", "train s",
                 "decodes in the main process"],
                rows,
            )
        )  # fmt: skip
        ratio = summary["workers=2, decoded in the workers"] / base
        checks = [
            ["step time, 2 workers: decoding in the workers / pre-decoded", f"{ratio:.3f}",
             f"<= {TARGET}", _common.verdict(ratio <= TARGET)],
        ]  # fmt: skip
        loop = summary["workers=0, decoded in the loop"] / summary["workers=0, pre-decoded"]
        print(
            f"decoding in the training loop instead (workers=0): {loop:.3f}x the pre-decoded step"
        )
        print("\ntargets")
        print(_common.table(["target", "measured", "target", "status"], checks))
        _common.write_json(
            args.json,
            {"machine": info, "command": _common.command_line(), "runs": runs, "summary": summary},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
