"""Media cost: our loader vs lmms-eval's default video reader, and decodes per shared clip.

Two measurements, one run, one machine::

    python bench/media.py            # a few minutes at most on 2 CPU cores
    python bench/media.py --quick    # well under a minute: checks the script runs

1. **Clips decoded per second** on the same clips and frame count (8 uniformly sampled RGB
   frames per clip, as in the AVERE paper), no cache on either side:

   - ours: :func:`avem_plugins.media.load_frames` (``backend="auto"``: decord, PyAV
     fallback), ``cache=None``; also :func:`~avem_plugins.media.decode_clip` with the
     audio track, which is what ``avem_av`` and the trainer really decode;
   - the baseline, lmms-eval 0.7.3's default reader
     ``lmms_eval.models.model_utils.load_video.read_video`` (alias ``read_video_pyav``; PyAV
     unless ``LMMS_VIDEO_DECODE_BACKEND`` says otherwise). It is what lmms-eval's video
     models call when they read frames themselves (e.g. ``qwen2_5_omni`` with
     ``use_custom_video_loader=True``); their other default, ``qwen_omni_utils`` /
     ``qwen_vl_utils``, is a separate package. For reference, lmms-eval's
     ``load_video_decord`` (decord, ``LMMS_VIDEO_DECORD_THREADS`` threads, default 2) too,
     and one *component* of ours: the PyAV probe (open + stream check) it runs before
     decoding, so that errors are typed.

   Contenders are interleaved round by round; each round decodes every clip once per
   contender. Target: ours >= 1.5x the baseline.

2. **Decodes per clip in an EmoReAlM-style run**: lmms-eval's ``simple_evaluate`` of the
   shipped ``emorealm`` group with the ``avem_av`` model (tiny random-weight Qwen2.5-Omni),
   over generated DFEW-style clips each shared by several questions; real decodes are counted
   per clip and stream at the default media cache. Target: exactly 1 per clip and stream. The
   same run with the cache disabled shows what a reader without a cache does (one decode per
   question, like lmms-eval's built-in readers, which have none).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

TARGET_SPEEDUP = 1.5


def make_clips(folder: Path, n: int, seconds: float, fps: int, size: tuple[int, int]) -> list[Path]:
    """``n`` synthetic H.264 + AAC clips (see :func:`avem_plugins.testing.synth.write_clip`)."""
    from avem_plugins.testing.synth import EMOTION_CUES, write_clip

    cues = list(EMOTION_CUES.values())
    paths = []
    for i in range(n):
        visual, audio = cues[i % len(cues)]
        paths.append(
            write_clip(
                folder / f"clip_{i:03d}.mp4",
                visual_cue=visual,
                audio_cue=audio,
                seed=i,
                duration=seconds,
                fps=fps,
                size=size,
            )
        )
    return paths


def decoders(num_frames: int) -> dict[str, Any]:
    """Contender name -> ``decode(path) -> frames``."""
    from lmms_eval.models.model_utils.load_video import load_video_decord, read_video

    from avem_plugins import media
    from avem_plugins.media import decode_clip, load_frames

    return {
        "ours: load_frames (decord)": lambda p: load_frames(p, num_frames, cache=None),
        "ours: decode_clip (frames + audio)": lambda p: (
            decode_clip(p, num_frames=num_frames, cache=None).frames
        ),
        "ours: load_frames (pyav backend)": lambda p: load_frames(
            p, num_frames, backend="pyav", cache=None
        ),
        "lmms-eval: read_video (default, pyav)": lambda p: read_video(p, num_frm=num_frames),
        "lmms-eval: load_video_decord": lambda p: load_video_decord(p, num_frames),
        # a component, not a loader: the PyAV open + stream check ours does before decoding
        PROBE: lambda p: _probe_frames(media._probe(p)),
    }


def _probe_frames(probe: Any) -> Any:
    import numpy as np

    return np.zeros((0,), np.uint8)  # no frames: the shape column shows it


BASELINE = "lmms-eval: read_video (default, pyav)"
OURS = "ours: load_frames (decord)"
PROBE = "component of ours: PyAV probe only"


def throughput(clips: list[Path], num_frames: int, rounds: int) -> dict[str, Any]:
    """Clips per second of each contender (median over rounds) and the frames they return."""
    fns = decoders(num_frames)
    paths = [str(p) for p in clips]  # lmms-eval's readers take str paths only
    shapes: dict[str, tuple[int, ...] | None] = {
        name: tuple(fn(paths[0]).shape) for name, fn in fns.items()
    }  # also warms imports
    shapes[PROBE] = None

    def one_round(fn: Any) -> Any:
        return lambda: [fn(p) for p in paths]

    times = _common.interleaved(
        {name: one_round(fn) for name, fn in fns.items()}, rounds=rounds, warmup=1
    )
    rates = {name: len(clips) / _common.median(t) for name, t in times.items()}
    return {"shapes": shapes, "clips_per_s": rates, "round_seconds": times}


def decodes_per_clip(workdir: Path, model_dir: Path, clips: int, per_task: int) -> dict[str, Any]:
    """Real decodes per clip and stream in an lmms-eval EmoReAlM run, with and without cache."""
    import _lmms
    from lmms_eval.tasks import TaskManager

    from avem_plugins import media

    data = _lmms.write_emorealm_data(workdir / "emorealm", clips, per_task)
    tasks = TaskManager()
    out: dict[str, Any] = {"clips": clips, "questions": data.questions_total}
    for label, cache in (("cache", media.default_cache()), ("no cache", None)):
        # a fresh model each run: lmms-eval's evaluate() frees the model's modules at its end
        lm = _lmms.load_model(model_dir, video_max_pixels=4096)
        saved = media._default_cache
        if cache is None:  # what a reader without a cache does: a cache that keeps nothing
            media._default_cache = media.MediaCache(max_items=0)
        try:
            timers = _lmms.Timers()
            with (
                _lmms.decode_counter() as counts,
                timers.time(type(lm), "_media", "media"),
            ):
                _lmms.run_emorealm(lm, data, task_manager=tasks)
                stats = media.default_cache().stats
        finally:
            media._default_cache = saved
        if lm.error_count:
            raise RuntimeError(f"avem_av failed {lm.error_count} requests: {lm.errors[:3]}")
        per_stream: dict[str, list[int]] = {"frames": [], "audio": []}
        for (kind, _path), n in counts.items():
            per_stream[kind].append(n)
        paths = {path for _, path in counts}
        out[label] = {
            "clips_decoded": len(paths),
            "frames_decodes_per_clip": per_stream["frames"],
            "audio_decodes_per_clip": per_stream["audio"],
            "cache_stats": stats,
            "media_seconds": timers.seconds["media"],
            "media_calls": timers.calls["media"],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = _common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=None, help="clips in the throughput test")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (median)")
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument(
        "--eval-clips", type=int, default=None, help="clips of the EmoReAlM-style run"
    )
    parser.add_argument(
        "--per-task", type=int, default=None, help="questions per EmoReAlM subtask (5 subtasks)"
    )
    parser.add_argument(
        "--size", default=None, help="WxH of the throughput clips (default 320x240; quick 160x120)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    n_clips = args.clips or (4 if quick else 8)
    rounds = args.rounds or (3 if quick else 10)
    seconds, fps, size = (2.0, 25, (160, 120)) if quick else (3.0, 25, (320, 240))
    if args.size:
        width, height = (int(v) for v in args.size.lower().split("x"))
        size = (width, height)
    eval_clips = args.eval_clips or (3 if quick else 6)
    per_task = args.per_task or (3 if quick else 6)

    _common.offline_env()
    _common.quiet_native()
    with _common.workdir(args.workdir) as work:
        import os

        os.environ.setdefault("HF_DATASETS_CACHE", str(work / "hf-datasets"))
        _common.quiet()
        _common.set_threads(args.threads)
        info = _common.machine_info()
        _common.print_header(
            "bench/media.py: decode throughput and decodes per shared clip",
            info,
            _common.versions("lmms_eval", "decord", "av", "numpy"),
        )
        clips = make_clips(work / "clips", n_clips, seconds, fps, size)
        result = throughput(clips, args.num_frames, rounds)
        rates = result["clips_per_s"]
        base = rates[BASELINE]
        print(
            f"\n1. clips decoded per second: {n_clips} synthetic H.264+AAC clips, {seconds:g} s, "
            f"{fps} fps, {size[0]}x{size[1]}, {args.num_frames} frames each; median of "
            f"{rounds} interleaved rounds, no cache"
        )
        rows = [
            [
                name,
                "x".join(map(str, result["shapes"][name])) if result["shapes"][name] else "-",
                rate,
                f"{rate / base:.2f}",
                (
                    f">= {TARGET_SPEEDUP}: {_common.verdict(rate / base >= TARGET_SPEEDUP)}"
                    if name == OURS
                    else ""
                ),
            ]
            for name, rate in rates.items()
        ]
        print(_common.table(["loader", "frames", "clips/s", "x baseline", "target"], rows))

        from avem_plugins.testing.tiny import build_tiny_model

        model_dir = build_tiny_model(work / "tiny-qwen2_5_omni")
        counts = decodes_per_clip(work, model_dir, eval_clips, per_task)
        print(
            f"\n2. decodes per clip in an EmoReAlM-style lmms-eval run (simple_evaluate, "
            f"--tasks emorealm, --model avem_av): {counts['clips']} clips, "
            f"{counts['questions']} questions ({counts['questions'] / counts['clips']:g} per clip)"
        )
        rows = []
        for label in ("cache", "no cache"):
            c = counts[label]
            frames, audio = c["frames_decodes_per_clip"], c["audio_decodes_per_clip"]
            worst = max(frames + audio)
            target = f"== 1: {_common.verdict(worst == 1 and min(frames + audio) == 1)}"
            rows.append(
                [
                    "avem_av (default media cache)" if label == "cache" else "same, cache disabled",
                    c["clips_decoded"],
                    f"{min(frames)}-{max(frames)}",
                    f"{min(audio)}-{max(audio)}",
                    c["cache_stats"]["decodes"],
                    c["cache_stats"]["hits"],
                    1000 * c["media_seconds"] / max(c["media_calls"], 1),
                    target if label == "cache" else "",
                ]
            )
        print(
            _common.table(
                [
                    "run",
                    "clips",
                    "frame decodes/clip",
                    "audio decodes/clip",
                    "decodes",
                    "cache hits",
                    "media ms/question",
                    "target",
                ],
                rows,
            )
        )
        cached, uncached = counts["cache"], counts["no cache"]
        per_q = [c["media_seconds"] / max(c["media_calls"], 1) for c in (cached, uncached)]
        print(
            f"media time per question, cache disabled / default cache: {per_q[1] / per_q[0]:.2f}x "
            "(lmms-eval's built-in readers have no cache: one decode per question)"
        )
        _common.write_json(
            args.json,
            {
                "machine": info,
                "command": _common.command_line(),
                "throughput": result,
                "decodes": counts,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
