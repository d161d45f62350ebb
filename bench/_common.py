"""Shared helpers of the ``bench/`` scripts: machine facts, tables, timing, memory, data.

The scripts are run as files (``python bench/media.py``), so this module is imported as a
top-level ``_common`` from the scripts' own folder. Nothing heavy is imported here at module
level; torch is imported inside the functions that need it.

Rules every script follows (see docs/BENCHMARKS.md):

- every contender runs in the same process, on the same machine, in the same run, and timed
  contenders are interleaved round by round so a change in machine load hits all of them;
- a script prints the machine, its exact command line, and a compact table of ratios;
- a missed target prints ``MISSED`` but does not change the exit status (only errors do).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import shlex
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

#: Where a target stands: printed verbatim in the tables.
MET, MISSED = "met", "MISSED"


# --------------------------------------------------------------------------- set-up


def offline_env() -> None:
    """No hub access, no telemetry, no progress bars (set before the heavy imports)."""
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TQDM_DISABLE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "DISABLE_MLFLOW_INTEGRATION": "TRUE",
        "WANDB_DISABLED": "true",
    }.items():
        os.environ.setdefault(key, value)


#: Native (C++) loggers that write straight to the process's stderr, and the setting that
#: keeps them quiet: torch's profiler library (kineto) prints ``USDT: ... profiler_start`` /
#: ``profiler_stop`` around every ``torch.profiler`` session and ``gpuGetDeviceCount failed``
#: when it probes for a GPU on a machine without one. Level 6 is above its ERROR level.
NATIVE_QUIET_ENV: dict[str, str] = {"KINETO_LOG_LEVEL": "6"}


def quiet_native() -> None:
    """Keep the profiler's and the device probe's native log lines out of the output.

    Python's warning and logging filters cannot reach them; the libraries read these
    variables when they start (lazily: calling this before the first profiler session is
    enough). A value the user set is kept.
    """
    for key, value in NATIVE_QUIET_ENV.items():
        os.environ.setdefault(key, value)


def quiet() -> None:
    """Silence library chatter so that the tables stay readable."""
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    try:
        from loguru import logger  # lmms-eval logs through loguru

        logger.remove()
        logger.add(sys.stderr, level="ERROR")
    except ImportError:
        pass
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except ImportError:
        pass
    try:
        import datasets

        datasets.logging.set_verbosity_error()
        datasets.disable_progress_bars()
    except ImportError:
        pass


def base_parser(description: str) -> argparse.ArgumentParser:
    """Arguments shared by every script: ``--quick``, ``--workdir``, ``--json``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes and few repetitions: checks the script runs (well under a minute)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="folder for generated models, clips and data (default: a temporary folder)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the measurements to this JSON file"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: 1 without a GPU, else torch's default; 0 = "
        "torch's default, one per core). On a "
        "shared machine, OpenMP threads competing with other jobs make multi-threaded CPU "
        "timings swing 5-10x from step to step; one thread keeps the ratios stable",
    )
    return parser


def set_threads(n: int | None) -> None:
    """Set torch's intra-op thread count: ``None`` is 1 without a GPU; ``0`` leaves torch's."""
    import torch

    if n is None:
        n = 0 if torch.cuda.is_available() else 1
    if n:
        torch.set_num_threads(n)


@contextmanager
def workdir(path: Path | None) -> Iterator[Path]:
    """``path`` (created), or a temporary folder removed afterwards."""
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="avem-bench-") as tmp:
        yield Path(tmp)


def command_line() -> str:
    """The command that started this process, as one could paste it."""
    script = Path(sys.argv[0])
    with suppress(ValueError):
        script = script.resolve().relative_to(Path.cwd())
    return shlex.join(["python", str(script), *sys.argv[1:]])


# --------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else "unknown"


def _ram_gib() -> float | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    match = re.search(r"^MemTotal:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 2**20 if match else None


def machine_info() -> dict[str, Any]:
    """``nproc``, CPU model, RAM, load, Python/torch versions and the GPU, if any."""
    import torch

    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 0
    info: dict[str, Any] = {
        "nproc": nproc,
        "cpu": _cpu_model(),
        "ram_gib": round(_ram_gib() or 0.0, 1),
        "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def versions(*packages: str) -> dict[str, str]:
    """Installed versions of ``packages`` (``"missing"`` when absent)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in packages:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out


def print_header(title: str, info: dict[str, Any], extra: dict[str, str] | None = None) -> None:
    """The script's title, command and machine, as the first lines of its output."""
    print(f"== {title}")
    print(f"command: {command_line()}")
    load = " ".join(str(x) for x in info["load_avg_1_5_15"])
    gpu = info["gpu"] or "none"
    print(
        f"machine: nproc={info['nproc']} cpu={info['cpu']!r} ram={info['ram_gib']} GiB "
        f"gpu={gpu} torch={info['torch']} (threads={info['torch_threads']}) "
        f"python={info['python']} load(1/5/15 min)={load}"
    )
    if extra:
        print("versions: " + " ".join(f"{k}={v}" for k, v in extra.items()))
    sys.stdout.flush()


# --------------------------------------------------------------------------- tables


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table (Markdown pipe syntax, so it pastes into the docs as is)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in cells:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def verdict(ok: bool) -> str:
    """``met`` or ``MISSED``."""
    return MET if ok else MISSED


def write_json(path: Path | None, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` (if given) as indented JSON."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=1, default=str))


# --------------------------------------------------------------------------- timing


def median(values: Sequence[float]) -> float:
    """The median (``nan`` for no values)."""
    return statistics.median(values) if values else float("nan")


def interleaved(
    contenders: dict[str, Callable[[], Any]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Run each contender ``warmup + rounds`` times, round-robin, rotating the order.

    Returns the wall seconds of the timed (non-warm-up) calls, per contender. Interleaving
    spreads a change in machine load (other jobs on a shared machine) over all contenders.
    """
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(warmup + rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            contenders[name]()
            elapsed = time.perf_counter() - start
            if r >= warmup:
                times[name].append(elapsed)
    return times


# --------------------------------------------------------------------------- memory


def tensor_peak(fn: Callable[[], Any], device: str = "cpu") -> int:
    """Peak bytes of tensors allocated by ``fn`` above what was live when it started.

    On a GPU: ``torch.cuda.max_memory_allocated`` after a peak reset. On CPU, where torch
    keeps no allocator statistics: the running sum of the allocation and free records of
    ``torch.profiler`` with ``profile_memory=True`` (tensors only, exact, but the profiler
    slows ``fn`` down: call it outside timed regions).
    """
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    records = [
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]" and str(e.device_type()).endswith("CPU")
    ]
    live = peak = 0
    for _, nbytes in sorted(records):
        live += nbytes
        peak = max(peak, live)
    return peak


def mib(n: float | None) -> float | None:
    """Bytes to MiB."""
    return None if n is None else n / 2**20
