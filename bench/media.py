"""Media cost: frames + audio per clip against lmms-eval's reader, and decodes per shared clip.

Two measurements, one run, one machine::

    python bench/media.py            # a few minutes on 2 CPU cores (720p clips are generated)
    python bench/media.py --quick    # well under a minute: checks the script runs

1. **Clips per second, frames + audio** (8 uniformly sampled RGB frames and the 16 kHz mono
   audio track of each clip, what ``avem_av`` and the trainer decode), on generated H.264 + AAC
   clips shaped like the paper's benchmarks: DFEW (2-5 s, 24-30 fps; at 360p and at 720p) and
   RAVDESS (720p, 3-4 s, 30 fps). No cache on either side. Contenders, interleaved round by
   round:

   - ours: :func:`avem_plugins.media.decode_clip` with ``backend="auto"`` (PyAV, one pass:
     one open container, one demux loop for frames and audio); the same with each of PyAV's
     decoder threading modes (``thread_type`` none / SLICE / FRAME / AUTO, the default being
     :data:`avem_plugins.media.VIDEO_THREAD_TYPE`); ``backend="decord"``; and
     ``backend="torchcodec"`` where torchcodec and FFmpeg's libraries are installed;
   - lmms-eval 0.7.3's default video reader, ``lmms_eval.models.model_utils.load_video.read_video``
     (PyAV; frames only), and the same **plus lmms-eval's audio loading**: lmms-eval has no
     reader of a video's audio track of its own; its ``qwen2_5_omni`` model (``use_audio_in_video``)
     takes it from ``qwen_omni_utils.process_audio_info`` (``librosa.load`` through audioread and
     an ``ffmpeg`` subprocess, after a PyAV check for an audio stream). That row needs the
     ``qwen-omni-utils`` package and an ``ffmpeg`` binary; without them the audio baseline is a
     plain separate PyAV decode of the track (the cheapest separate load there is), and the
     output says which one was measured.

   Targets: ours >= 1.0x lmms-eval's frames-only ``read_video``, and >= 1.5x its frames plus
   separate audio load, on every clip set; ``auto`` is the fastest frames + audio backend.

2. **Decodes per clip in an EmoReAlM-style run**: lmms-eval's ``simple_evaluate`` of the
   shipped ``emorealm`` group with the ``avem_av`` model (tiny random-weight Qwen2.5-Omni),
   over generated DFEW-style clips each shared by several questions; real decodes are counted
   per clip and stream at the default media cache. Target: exactly 1 per clip and stream. The
   same run with the cache disabled shows what a reader without a cache does (one decode per
   question, like lmms-eval's built-in readers, which have none).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

TARGET_FRAMES_ONLY = 1.0
TARGET_WITH_AUDIO = 1.5

#: Clip sets: name -> (width, height), [(seconds, fps), ...] (DFEW: 2-5 s at 24-30 fps;
#: RAVDESS: 720p, 3-4 s at 30 fps).
SETS: dict[str, tuple[tuple[int, int], list[tuple[float, int]]]] = {
    "DFEW 360p": ((640, 360), [(2.0, 24), (3.0, 25), (4.0, 30), (5.0, 25)]),
    "DFEW 720p": ((1280, 720), [(2.0, 30), (3.0, 24), (4.0, 25), (5.0, 30)]),
    "RAVDESS 720p": ((1280, 720), [(3.0, 30), (3.5, 30), (4.0, 30)]),
}
QUICK_SETS: dict[str, tuple[tuple[int, int], list[tuple[float, int]]]] = {
    "DFEW-like 160x120": ((160, 120), [(1.0, 24), (1.5, 30)]),
    "RAVDESS-like 320x180": ((320, 180), [(1.0, 30)]),
}

OURS = "ours: decode_clip, auto (PyAV one pass)"
BASE_FRAMES = "lmms-eval: read_video (frames only)"
BASE_AUDIO_LMMS = "lmms-eval: read_video + qwen-omni-utils audio (its qwen2_5_omni path)"
BASE_AUDIO_PYAV = "lmms-eval: read_video + a separate PyAV audio decode"
THREAD_MODES = (None, "SLICE", "FRAME", "AUTO")


def make_clips(folder: Path, size: tuple[int, int], specs: list[tuple[float, int]]) -> list[Path]:
    """Synthetic H.264 + AAC clips (:func:`avem_plugins.testing.synth.write_clip`), kept in
    ``folder`` across runs with ``--workdir``."""
    from avem_plugins.testing.synth import EMOTION_CUES, write_clip

    cues = list(EMOTION_CUES.values())
    paths = []
    for i, (seconds, fps) in enumerate(specs):
        path = folder / f"clip_{size[0]}x{size[1]}_{seconds:g}s_{fps}fps_{i}.mp4"
        if not path.is_file():
            visual, audio = cues[i % len(cues)]
            tmp = path.with_suffix(".tmp.mp4")
            write_clip(
                tmp, visual_cue=visual, audio_cue=audio, seed=i, duration=seconds, fps=fps,
                size=size,
            )  # fmt: skip
            tmp.rename(path)
        paths.append(path)
    return paths


def torchcodec_usable() -> bool:
    if importlib.util.find_spec("torchcodec") is None:
        return False
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401  (loads FFmpeg's libraries)
    except Exception:
        return False
    return True


def lmms_audio_loader() -> Any:
    """lmms-eval's qwen2_5_omni audio-in-video loader, if ``qwen-omni-utils`` and ffmpeg exist."""
    if importlib.util.find_spec("qwen_omni_utils") is None or shutil.which("ffmpeg") is None:
        return None
    try:
        from qwen_omni_utils.v2_5.audio_process import process_audio_info
    except Exception:
        return None

    def load(path: str) -> Any:
        message = [{"role": "user", "content": [{"type": "video", "video": path}]}]
        (audio,) = process_audio_info(message, use_audio_in_video=True)
        return audio

    return load


def pyav_audio(path: str, sample_rate: int = 16000) -> Any:
    """A separate PyAV decode of a file's audio track to mono float32 at ``sample_rate``."""
    import av
    import numpy as np

    chunks = []
    with av.open(path) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        for frame in container.decode(container.streams.audio[0]):
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    return np.concatenate(chunks)


def decoders(num_frames: int, audio_baseline: tuple[str, Any]) -> dict[str, Any]:
    """Contender name -> ``decode(path) -> (frames, audio or None)``."""
    from lmms_eval.models.model_utils.load_video import read_video

    from avem_plugins import media
    from avem_plugins.media import decode_clip

    def ours(backend: str = "auto", threads: Any = "default") -> Any:
        def run(path: str) -> Any:
            saved = media.VIDEO_THREAD_TYPE
            if threads != "default":
                media.VIDEO_THREAD_TYPE = threads
            try:
                clip = decode_clip(path, num_frames=num_frames, backend=backend, cache=None)
            finally:
                media.VIDEO_THREAD_TYPE = saved
            return clip.frames, clip.audio

        return run

    label, load_audio = audio_baseline
    out: dict[str, Any] = {OURS: ours()}
    for mode in THREAD_MODES:
        out[f"ours: PyAV one pass, thread_type={mode}"] = ours("pyav", mode)
    out["ours: decord (PyAV check, then frames and audio)"] = ours("decord")
    if torchcodec_usable():
        out["ours: torchcodec (PyAV check, then frames and audio)"] = ours("torchcodec")
    out["ours: frames only (load_frames, PyAV)"] = lambda p: (
        media.load_frames(p, num_frames, cache=None),
        None,
    )
    out[BASE_FRAMES] = lambda p: (read_video(p, num_frm=num_frames), None)
    out[label] = lambda p: (read_video(p, num_frm=num_frames), load_audio(p))
    return out


def throughput(
    clips: list[Path], num_frames: int, rounds: int, audio_baseline: tuple[str, Any]
) -> dict[str, Any]:
    """Clips per second of each contender (median over rounds) and what they return."""
    fns = decoders(num_frames, audio_baseline)
    paths = [str(p) for p in clips]  # lmms-eval's readers take str paths only
    shapes = {}
    for name, fn in fns.items():  # also warms imports
        frames, audio = fn(paths[0])
        shapes[name] = [list(frames.shape), None if audio is None else len(audio)]

    cpu: dict[str, list[float]] = {name: [] for name in fns}

    def one_round(name: str, fn: Any) -> Any:
        def run() -> None:
            start = time.process_time()  # this process's CPU time, all its threads
            for p in paths:
                fn(p)
            cpu[name].append(time.process_time() - start)

        return run

    times = _common.interleaved(
        {name: one_round(name, fn) for name, fn in fns.items()}, rounds=rounds, warmup=1
    )
    rates = {name: len(clips) / _common.median(t) for name, t in times.items()}
    cpu_ms = {name: 1000 * _common.median(c[1:]) / len(clips) for name, c in cpu.items()}
    return {
        "shapes": shapes,
        "clips_per_s": rates,
        "cpu_ms_per_clip": cpu_ms,
        "round_seconds": times,
    }


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
        # media_prefetch=0: the media work is timed where it runs, in the answer loop
        lm = _lmms.load_model(model_dir, video_max_pixels=4096, media_prefetch=0)
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


def print_throughput(results: dict[str, Any], audio_label: str) -> list[list[Any]]:
    """One table per clip set; returns the target rows."""
    checks = []
    for name, res in results.items():
        rates = res["clips_per_s"]
        frames_only, with_audio = rates[BASE_FRAMES], rates[audio_label]
        print(f"\n{name}: {res['describe']}")
        rows = [
            [
                contender,
                "x".join(map(str, res["shapes"][contender][0])),
                res["shapes"][contender][1] or "-",
                rate,
                f"{rate / frames_only:.2f}",
                f"{rate / with_audio:.2f}",
                res["cpu_ms_per_clip"][contender],
            ]
            for contender, rate in rates.items()
        ]
        print(
            _common.table(
                ["loader", "frames", "audio samples (clip 1)", "clips/s", "x read_video",
                 "x read_video + audio", "CPU ms/clip"],
                rows,
            )
        )  # fmt: skip
        ours = rates[OURS]
        backends = {
            k: v
            for k, v in rates.items()
            if k.startswith("ours:") and "thread" not in k and "frames only" not in k
        }
        fastest = max(backends, key=lambda k: backends[k])
        threads = {k.split("thread_type=")[1]: v for k, v in rates.items() if "thread_type=" in k}
        best_threads = max(threads, key=lambda k: threads[k])
        print(
            f"fastest frames + audio backend: {fastest} ({backends[fastest]:.1f} clips/s); "
            f"fastest PyAV threading: thread_type={best_threads}"
        )
        checks += [
            [f"{name}: ours / read_video (frames only)", f"{ours / frames_only:.2f}",
             f">= {TARGET_FRAMES_ONLY}", _common.verdict(ours / frames_only >= TARGET_FRAMES_ONLY)],
            [f"{name}: ours / read_video + audio load", f"{ours / with_audio:.2f}",
             f">= {TARGET_WITH_AUDIO}", _common.verdict(ours / with_audio >= TARGET_WITH_AUDIO)],
            [f"{name}: auto is the fastest backend", fastest.split(":")[1].split("(")[0].strip(),
             "auto", _common.verdict(fastest == OURS)],
        ]  # fmt: skip
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = _common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (median)")
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument(
        "--sets", default=None, help="comma-separated subset of the clip sets (default: all)"
    )
    parser.add_argument(
        "--eval-clips", type=int, default=None, help="clips of the EmoReAlM-style run"
    )
    parser.add_argument(
        "--per-task", type=int, default=None, help="questions per EmoReAlM subtask (5 subtasks)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    rounds = args.rounds or (2 if quick else 7)
    sets = QUICK_SETS if quick else SETS
    if args.sets:
        wanted = [s.strip() for s in args.sets.split(",")]
        unknown = set(wanted) - set(sets)
        if unknown:
            parser.error(f"unknown clip sets {sorted(unknown)}; choose from {list(sets)}")
        sets = {k: v for k, v in sets.items() if k in wanted}
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
            "bench/media.py: frames + audio per clip vs lmms-eval's reader; decodes per shared clip",
            info,
            _common.versions("lmms_eval", "av", "decord", "torchcodec", "qwen-omni-utils", "numpy"),
        )
        loader = lmms_audio_loader()
        audio_baseline = (BASE_AUDIO_LMMS, loader) if loader else (BASE_AUDIO_PYAV, pyav_audio)
        print(
            f"audio baseline: {audio_baseline[0]}"
            + ("" if loader else " (qwen-omni-utils or an ffmpeg binary is not installed)")
        )
        results: dict[str, Any] = {}
        for name, (size, specs) in sets.items():
            clips = make_clips(work / "clips", size, specs)
            res = throughput(clips, args.num_frames, rounds, audio_baseline)
            res["describe"] = (
                f"{len(clips)} clips {size[0]}x{size[1]}, "
                + ", ".join(f"{s:g} s at {f} fps" for s, f in specs)
                + f"; {args.num_frames} frames + 16 kHz audio each; median of {rounds} "
                "interleaved rounds, no cache"
            )
            results[name] = res
        print(
            "\n1. clips decoded per second, frames + audio (CPU ms/clip: this process's CPU time, "
            "all its threads; not an ffmpeg subprocess's)"
        )
        checks = print_throughput(results, audio_baseline[0])

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
            rows.append(
                [
                    "avem_av (default media cache)" if label == "cache" else "same, cache disabled",
                    c["clips_decoded"],
                    f"{min(frames)}-{max(frames)}",
                    f"{min(audio)}-{max(audio)}",
                    c["cache_stats"]["decodes"],
                    c["cache_stats"]["hits"],
                    1000 * c["media_seconds"] / max(c["media_calls"], 1),
                ]
            )
        print(
            _common.table(
                ["run", "clips", "frame decodes/clip", "audio decodes/clip", "decodes",
                 "cache hits", "media ms/question"],
                rows,
            )
        )  # fmt: skip
        cached, uncached = counts["cache"], counts["no cache"]
        per_q = [c["media_seconds"] / max(c["media_calls"], 1) for c in (cached, uncached)]
        print(
            f"media time per question, cache disabled / default cache: {per_q[1] / per_q[0]:.2f}x "
            "(lmms-eval's built-in readers have no cache: one decode per question)"
        )
        worst = cached["frames_decodes_per_clip"] + cached["audio_decodes_per_clip"]
        checks.append(
            ["decodes per clip and stream (default cache)", f"{min(worst)}-{max(worst)}", "== 1",
             _common.verdict(min(worst) == max(worst) == 1)]
        )  # fmt: skip
        print("\ntargets")
        print(_common.table(["target", "measured", "target", "status"], checks))
        _common.write_json(
            args.json,
            {
                "machine": info,
                "command": _common.command_line(),
                "audio_baseline": audio_baseline[0],
                "throughput": results,
                "decodes": counts,
                "targets": checks,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
