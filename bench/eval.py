"""Where an lmms-eval run of ``avem_av`` spends its time: decode, model, scoring.

::

    python bench/eval.py            # a few minutes at most on 2 CPU cores
    python bench/eval.py --quick    # well under a minute: checks the script runs

One run of lmms-eval 0.7.3's own ``simple_evaluate`` (in this process) of the shipped
``emorealm`` group with the ``avem_av`` model on a tiny random-weight Qwen2.5-Omni thinker,
over generated DFEW-style clips (H.264 + AAC) each shared by several questions. Functions
are wrapped with timers for the run (nothing in the library is changed):

- **decode**: ``AvemAV._media`` (decode + media cache + container probe), of which the real
  decodes (``avem_plugins.media._decode_frames`` / ``_decode_audio``, cache misses only);
- **model**: ``AvemAV._generate`` (processor + ``generate`` + token decoding), of which the
  adapter's ``generation_inputs`` (the processor);
- **scoring**: lmms-eval's per-document ``process_results`` loop (our answer parsers and
  metrics) and the aggregation (``TaskOutput.calculate_*``, ``consolidate_*``);
- lmms-eval's task loading (``get_task_dict``) and request building, and the remainder.

This first run decodes in the answer loop (``media_prefetch=0``) so that the decode share
shows. The second part measures what ``avem_av``'s default hides: the **media wait**, the
time the answer loop waits for media, per question, in a DFEW-style run (``--tasks dfew``:
every clip asked about once, so every clip is decoded; realistic 640x360 clips of 2-5 s at
24-30 fps), with the next batches decoded in a background thread while the model generates
(``media_prefetch=2``, the default) and without (``media_prefetch=0``), runs alternated and
repeated, media cache cleared before each. Target: with overlap, the wait is <= 10% of the
model time (processor + generate).

The tiny model's forward pass is ~1000x cheaper than a real 7B model's, so on this model the
shares say where the *fixed* costs are (processor, decoding, scoring); with a real model the
``generate`` row dominates.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common


def split(timers: Any, total: float, load: float) -> list[tuple[str, float, int]]:
    """``(phase, seconds, calls)`` rows; the remainders make the rows sum to the total."""
    s, c = timers.seconds, timers.calls
    decode = s["decode"]
    media = s["media"]
    model = s["model"]
    processor = s["processor"]
    answer_loop = s["generate_until"]
    scoring_docs, aggregate = s["score_docs"], s["aggregate"]
    accounted = (
        s["index_tasks"] + s["tasks"] + s["requests"] + answer_loop + scoring_docs + aggregate
    )
    return [
        ("model load (AvemAV.__init__, outside the run)", load, 1),
        ("lmms-eval: index tasks (TaskManager)", s["index_tasks"], c["index_tasks"]),
        ("lmms-eval: load tasks and docs (get_task_dict)", s["tasks"], c["tasks"]),
        ("lmms-eval: build requests", s["requests"], c["requests"]),
        ("decode: real decodes (cache misses)", decode, c["decode"]),
        ("decode: cache hits, probes, copies", media - decode, c["media"]),
        ("model: processor (generation_inputs)", processor, c["processor"]),
        ("model: generate + detokenize", model - processor, c["model"]),
        ("avem_av: batching, logging (rest of generate_until)", answer_loop - media - model, 0),
        ("scoring: per-doc process_results", scoring_docs, c["score_docs"]),
        ("scoring: aggregation", aggregate, c["aggregate"]),
        ("lmms-eval: other (set-up, filters, results)", total - accounted, 0),
    ]


#: DFEW-like clips of the media-wait runs: (seconds, fps), cycled (DFEW: 2-5 s, 24-30 fps).
DFEW_SPECS = [(2.0, 24), (3.0, 25), (4.0, 30), (5.0, 25), (3.5, 30), (2.5, 25)]
TARGET_WAIT = 0.10
MODES = {"overlap (media_prefetch=2)": 2, "no overlap (media_prefetch=0)": 0}


def media_wait(work: Path, model_dir: Path, args: Any) -> dict[str, Any]:
    """Media wait vs model time per question in DFEW-style runs, with and without overlap."""
    import _lmms
    from lmms_eval.tasks import TaskManager

    from avem_plugins import media
    from avem_plugins.lmms.model import AvemAV

    size = tuple(int(v) for v in args.overlap_size.lower().split("x"))
    specs = [DFEW_SPECS[i % len(DFEW_SPECS)] for i in range(args.overlap_clips)]
    root, n = _lmms.write_dfew_data(work / "dfew-wait", specs, size)  # type: ignore[arg-type]
    tasks = TaskManager()
    env = {"DFEW_ROOT": str(root)}

    def one(depth: int) -> dict[str, float]:
        media.default_cache().clear()  # every clip decoded in every run
        lm = _lmms.load_model(
            model_dir, video_max_pixels=args.video_max_pixels, batch_size=args.batch_size,
            media_prefetch=depth,
        )  # fmt: skip
        timers = _lmms.Timers()
        with timers.time(AvemAV, "_generate", "model"):
            start = time.perf_counter()
            _lmms.run_task(lm, "dfew", env, task_manager=tasks)
            wall = time.perf_counter() - start
        if lm.error_count:
            raise RuntimeError(f"avem_av failed {lm.error_count} requests: {lm.errors[:3]}")
        stats = lm.media_stats
        return {
            "wall_s": wall, "wait_s": stats.wait_s, "first_wait_s": stats.first_wait_s,
            "decode_s": stats.decode_s, "model_s": timers.seconds["model"],
            "questions": stats.requests,
        }  # fmt: skip

    one(0)  # warm-up: first-call costs of the task, the processor and the decoder
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in MODES}
    names = list(MODES)
    for r in range(args.overlap_repeats):  # alternated, the order rotated each repeat
        for name in names[r % 2 :] + names[: r % 2]:
            runs[name].append(one(MODES[name]))
    median = _common.median
    out: dict[str, Any] = {"clips": n, "size": list(size), "specs": specs, "runs": runs}
    rows = []
    for name, values in runs.items():
        q = values[0]["questions"]
        wait, first, decode, model = (
            median([v[k] for v in values])
            for k in ("wait_s", "first_wait_s", "decode_s", "model_s")
        )
        ratio = wait / model
        out[name] = {"wait_s": wait, "first_wait_s": first, "decode_s": decode, "model_s": model,
                     "wait_over_model": ratio}  # fmt: skip
        target = (
            f"<= {TARGET_WAIT:.0%}: {_common.verdict(ratio <= TARGET_WAIT)}" if MODES[name] else ""
        )
        rows.append([name, 1000 * wait / q, 1000 * first, 1000 * decode / q, 1000 * model / q,
                     f"{100 * ratio:.1f}", f"{100 * (wait - first) / model:.1f}",
                     median([v["wall_s"] for v in values]), target])  # fmt: skip
    print(
        f"\n2. media wait per question: lmms-eval simple_evaluate(tasks=['dfew'], model=avem_av), "
        f"{n} clips {size[0]}x{size[1]} ("
        + ", ".join(f"{s:g} s at {f} fps" for s, f in specs[:4])
        + f", ...; each asked once, each decoded: cache cleared), batch_size={args.batch_size}; "
        f"median of {args.overlap_repeats} alternated runs per mode after one warm-up run"
    )
    print(
        _common.table(
            ["mode", "media wait ms/q", "of which batch 1 ms", "decode ms/q", "model ms/q",
             "wait % of model", "after batch 1 %", "run wall s", "target"],
            rows,
        )
    )  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = _common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=None, help="distinct clips")
    parser.add_argument(
        "--overlap-clips", type=int, default=None, help="clips of each media-wait run (DFEW)"
    )
    parser.add_argument(
        "--overlap-repeats", type=int, default=None, help="media-wait runs per mode (median)"
    )
    parser.add_argument(
        "--overlap-size", default="640x360", help="WxH of the media-wait clips (default 640x360)"
    )
    parser.add_argument(
        "--per-task", type=int, default=None, help="questions per EmoReAlM subtask (5 subtasks)"
    )
    parser.add_argument("--batch-size", type=int, default=1, help="avem_av batch_size")
    parser.add_argument(
        "--video-max-pixels",
        type=int,
        default=4096,
        help="avem_av video_max_pixels (the tiny kit's advice: 4096)",
    )
    args = parser.parse_args(argv)
    args.overlap_clips = args.overlap_clips or (2 if args.quick else 24)
    args.overlap_repeats = args.overlap_repeats or (1 if args.quick else 3)
    if args.quick and args.overlap_size == "640x360":
        args.overlap_size = "160x120"
    clips = args.clips or (3 if args.quick else 8)
    per_task = args.per_task or (3 if args.quick else 8)
    seconds, fps, size = (1.0, 25, (160, 120)) if args.quick else (3.0, 25, (320, 240))

    _common.offline_env()
    _common.quiet_native()
    with _common.workdir(args.workdir) as work:
        import os

        os.environ.setdefault("HF_DATASETS_CACHE", str(work / "hf-datasets"))
        _common.quiet()
        _common.set_threads(args.threads)
        info = _common.machine_info()
        _common.print_header(
            "bench/eval.py: an lmms-eval run of avem_av split into decode, model and scoring",
            info,
            _common.versions("lmms_eval", "transformers", "decord", "av"),
        )
        import _lmms

        from avem_plugins.testing.tiny import build_tiny_model

        model_dir = build_tiny_model(work / "tiny-qwen2_5_omni")
        data = _lmms.write_emorealm_data(
            work / "emorealm", clips, per_task, seconds=seconds, fps=fps, size=size
        )
        import lmms_eval.evaluator  # noqa: F401  (import cost kept out of the run's time)

        with _lmms.eval_timers() as timers:
            start = time.perf_counter()
            lm = _lmms.load_model(
                model_dir, video_max_pixels=args.video_max_pixels, batch_size=args.batch_size,
                media_prefetch=0,
            )  # fmt: skip
            load = time.perf_counter() - start
            start = time.perf_counter()
            results = _lmms.run_emorealm(lm, data)
            total = time.perf_counter() - start
        if lm.error_count:
            raise RuntimeError(f"avem_av failed {lm.error_count} requests: {lm.errors[:3]}")

        n = data.questions_total
        print(
            f"\nrun: simple_evaluate(tasks=['emorealm'], model=avem_av) on a tiny Qwen2.5-Omni "
            f"thinker (random weights), {n} questions over {clips} clips ({seconds:g} s, {fps} "
            f"fps, {size[0]}x{size[1]}, H.264+AAC), batch_size="
            f"{args.batch_size}, video_max_pixels={args.video_max_pixels}, media_prefetch=0, "
            f"the task's generation_kwargs; run wall time {total:.2f} s"
        )
        rows = [
            [phase, f"{seconds:.3f}",
             f"{100 * seconds / total:.1f}" if "outside" not in phase else None,
             f"{1000 * seconds / n:.1f}", calls or None]
            for phase, seconds, calls in split(timers, total, load)
        ]  # fmt: skip
        print(_common.table(["phase", "s", "% of run", "ms/question", "calls"], rows))
        s = timers.seconds
        groups = {
            "decode (all media work)": s["media"],
            "model (processor + generate)": s["model"],
            "scoring (per-doc + aggregation)": s["score_docs"] + s["aggregate"],
        }
        groups["everything else in lmms-eval / avem_av"] = total - sum(groups.values())
        print("\nsummary")
        print(
            _common.table(
                ["part", "s", "% of run"],
                [[k, f"{v:.3f}", f"{100 * v / total:.1f}"] for k, v in groups.items()],
            )
        )
        acc = results["results"].get("emorealm", {}).get("accuracy,none")
        print(f"emorealm accuracy (random weights, meaningless): {acc}; failed requests: 0")
        waits = media_wait(work, model_dir, args)
        _common.write_json(
            args.json,
            {
                "machine": info,
                "command": _common.command_line(),
                "questions": n,
                "clips": clips,
                "total_s": total,
                "model_load_s": load,
                "timers": {k: [timers.seconds[k], timers.calls[k]] for k in timers.seconds},
                "media_wait": waits,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
