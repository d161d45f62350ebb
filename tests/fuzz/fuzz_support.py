"""Shared pieces of the reader fuzz tests (tests/fuzz/): tiers, time bounds, the property, mutations.

**Tiers.** Every reader has a default-tier test (a few examples: the default test run stays
as fast as it was) and a ``@pytest.mark.slow`` test of :data:`SLOW_EXAMPLES` (10,000) examples,
which CI's slow stage runs. Both are Hypothesis settings profiles, ``fuzz-default`` and
``fuzz-slow``; ``AVEM_FUZZ_EXAMPLES=N`` overrides the number of examples of both (to run the
slow tier in chunks, or longer). Both tiers are derandomized: the same examples on every run,
so a test run (CI's included) checks examples that passed before and cannot flake.
``AVEM_FUZZ_EXPLORE=1`` draws new examples on each run instead: that is how to look for new
defects (run it after changing a reader or a strategy; CI's slow stage once found two defects
that way). No example database is written (``database=None``): the failures Hypothesis found are kept as explicit
regression tests instead (``test_fuzz_regressions.py``, and ``FOUND`` in the media test).

**Time.** Each example runs under :func:`hard_timeout` (``SIGALRM``): a reader that hangs
fails the example instead of stalling the run. The exception it raises is a
``BaseException``, so a reader's ``except Exception`` cannot swallow it. Media decoding runs
in a worker process with its own timeout (``test_fuzz_media.py``), where a crash of the
native decoders would show as a dead worker.

**The property** (:func:`outcome`): a reader returns its data, or raises one of our typed
errors whose message is one line, names the file and says where (row/line/item/field/column),
or is one of the reader's file-level errors; any other exception fails the example. Each
test then checks that nothing was dropped without being counted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Examples per reader in the slow tier (the issue's floor).
SLOW_EXAMPLES = 10_000
#: Examples per reader in the default tier.
DEFAULT_EXAMPLES = 12
#: Hard bound on one example of a file reader (seconds; they take milliseconds).
HARD_TIMEOUT_S = 30.0

_override = os.environ.get("AVEM_FUZZ_EXAMPLES", "").strip()
#: ``AVEM_FUZZ_EXPLORE=1``: new random examples each run (both tiers) instead of the fixed ones.
EXPLORE = os.environ.get("AVEM_FUZZ_EXPLORE", "").strip() == "1"
_common: dict[str, Any] = {
    "deadline": None,  # hard_timeout bounds each example; no flaky timing failures
    "database": None,
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
}
_common["derandomize"] = not EXPLORE  # the same examples on every run: a test run never flakes
settings.register_profile(
    "fuzz-default", max_examples=int(_override or DEFAULT_EXAMPLES), **_common
)
settings.register_profile("fuzz-slow", max_examples=int(_override or SLOW_EXAMPLES), **_common)
#: Decorators: ``@DEFAULT_TIER`` / ``@SLOW_TIER`` under ``@given``.
DEFAULT_TIER = settings.get_profile("fuzz-default")
SLOW_TIER = settings.get_profile("fuzz-slow")


def tier(name: str, *, fixed: bool = False, **overrides: Any) -> settings:
    """A tier's settings with ``overrides`` (e.g. fewer default examples for costly readers);
    ``AVEM_FUZZ_EXAMPLES`` replaces ``max_examples`` unless ``fixed``."""
    base = settings.get_profile(f"fuzz-{name}")
    if _override and not fixed:
        overrides.pop("max_examples", None)
    return settings(base, **overrides)


class ExampleTimeout(BaseException):
    """One example ran past its hard bound (a hang)."""


@contextlib.contextmanager
def hard_timeout(seconds: float = HARD_TIMEOUT_S) -> Iterator[None]:
    """Raise :class:`ExampleTimeout` in this (main) thread after ``seconds``."""

    def fire(signum: int, frame: Any) -> None:
        raise ExampleTimeout(f"the reader ran longer than {seconds} s on one example (a hang)")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


#: Words that say where in a file a problem is.
LOCATOR = re.compile(r"\b(line|item|row|column|field|key|items?|rows?)\b", re.IGNORECASE)


@dataclass
class Outcome:
    """What a reader did with one example: ``value`` or a typed ``error``."""

    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def check_message(
    err: BaseException,
    file: str | os.PathLike[str],
    *,
    file_level: Sequence[str] = (),
    multi_line: bool = False,
) -> str:
    """A typed error's message: non-empty, one line (or each line naming the file with
    ``multi_line``), naming ``file``, and locating the problem (or a file-level error)."""
    msg = str(err)
    name = os.fspath(file)
    assert msg.strip(), f"{type(err).__name__} with an empty message"
    assert "Traceback" not in msg, msg
    lines = msg.split("\n")  # a line break in a log or a terminal: \n or \r
    if multi_line:
        assert all(name in line or Path(name).name in line for line in lines[:-1]), msg
    else:
        assert len(lines) == 1 and "\r" not in msg, f"not one line: {msg!r}"
    assert name in msg or Path(name).name in msg, f"the message does not name {name}: {msg!r}"
    located = LOCATOR.search(msg) or any(re.search(p, msg) for p in file_level)
    assert located, f"the message says neither where nor a file-level problem: {msg!r}"
    return msg


def outcome(
    call: Callable[[], Any],
    typed: type[BaseException] | tuple[type[BaseException], ...],
    file: str | os.PathLike[str],
    *,
    file_level: Sequence[str] = (),
    multi_line: bool = False,
    seconds: float = HARD_TIMEOUT_S,
) -> Outcome:
    """Run one reader call under the property (see the module docstring).

    Any exception other than ``typed`` propagates, which fails the example with its
    traceback (that is the point)."""
    with hard_timeout(seconds):
        try:
            return Outcome(value=call())
        except typed as err:
            check_message(err, file, file_level=file_level, multi_line=multi_line)
            return Outcome(error=err)


class LogCounter(logging.Handler):
    """Collects the records of a logger while installed (for 'counted, not silent')."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


@contextlib.contextmanager
def capture_logs(*names: str) -> Iterator[LogCounter]:
    handler = LogCounter()
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


@contextlib.contextmanager
def env(**values: str | None) -> Iterator[None]:
    """Set (``None``: unset) environment variables for the block."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ------------------------------------------------------------------ values and JSON


class Raw:
    """Verbatim JSON text inside a generated value (huge numbers, deep nesting, NaN)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r}{'...' if len(self.text) > 40 else ''})"


class Pairs:
    """A JSON object written from key/value pairs: keys may repeat (a duplicated field)."""

    def __init__(self, pairs: Sequence[tuple[str, Any]]) -> None:
        self.pairs = list(pairs)

    def __repr__(self) -> str:
        return f"Pairs({self.pairs!r})"


def to_json(value: Any) -> str:
    """JSON text of a generated value (:class:`Raw`, :class:`Pairs`, lone surrogates allowed)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Pairs):
        return "{" + ", ".join(f"{json.dumps(k)}: {to_json(v)}" for k, v in value.pairs) + "}"
    if isinstance(value, dict):
        return to_json(Pairs(list(value.items())))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(to_json(v) for v in value) + "]"
    return json.dumps(value)  # ensure_ascii: a lone surrogate is written as \\ud800


#: Strings nobody thinks of: empty, blank, BOM, bidi override, NUL, a lone surrogate,
#: combining marks, newlines, CR, emoji, RTL text, Windows and UNC paths, long ones.
ODD_STRINGS: tuple[str, ...] = (
    "",
    " ",
    "\t",
    "\ufeff",
    "\u202e",
    "\x00",
    "\ud800",
    "e\u0301",
    "a\nb",
    "a\r\nb",
    "\r",
    "😀",
    "مرحبا",
    "Ⅻ",
    "²",
    "١٢",
    "C:\\x.mp4",
    "\\\\server\\share\\x.mp4",
    "~",
    "x" * 300,
    "é" * 50,
)
#: Raw JSON values a hand-made or damaged file may hold.
RAW_VALUES: tuple[Raw, ...] = (
    Raw("1" * 5000),  # past Python's int-string limit
    Raw("-" + "9" * 400),
    Raw("1e999"),
    Raw("NaN"),
    Raw("Infinity"),
    Raw("[" * 5000 + "]" * 5000),  # deeper than the recursion limit
    Raw("[[[[[[]]]]]]"),
    Raw('{"a": {"b": {"c": []}}}'),
)


# Strategies are built once (building one inside a draw costs more than the example).
_ODD_TEXT = st.one_of(st.sampled_from(ODD_STRINGS), st.text(max_size=12))
_ODD_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(RAW_VALUES),
    st.lists(st.integers(), max_size=3),
    st.builds(lambda: [[["nested"]]]),  # fresh objects: mutations must not alias draws
    st.builds(dict),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    _ODD_TEXT,
)


def odd_text() -> st.SearchStrategy[str]:
    return _ODD_TEXT


def odd_value() -> st.SearchStrategy[Any]:
    """Any JSON-ish value of the wrong kind (or a strange right kind)."""
    return _ODD_VALUE


#: Media-path injections ({root}: the media root, absolute).
PATH_INJECTIONS: tuple[str, ...] = (
    "../outside/secret.mp4",
    "../../../../etc/passwd",
    "/etc/passwd",
    "{root}/clips/a.mp4",
    "{root}/../outside/secret.mp4",
    "clips/link.mp4",  # a symlink leading out of the root
    "linkdir/secret.mp4",  # through a symlinked folder leading out
    "clips/./a.mp4",
    "clips//a.mp4",
    "clips/../clips/a.mp4",
    "clips/nope.mp4",
    "clips",  # a folder
    ".",
    "~/x.mp4",
    "a\x00b.mp4",
    "\ud800.mp4",
    "x" * 300 + ".mp4",
    ("d/" * 2100) + "a.mp4",  # longer than PATH_MAX
    "C:\\clips\\a.mp4",
    "clips\\a.mp4",
    " clips/a.mp4 ",
)


@functools.cache
def path_value(root: Path) -> st.SearchStrategy[str]:
    return st.sampled_from(PATH_INJECTIONS).map(lambda p: p.replace("{root}", os.fspath(root)))


#: Where examples write their files: tmpfs when there is one (creating and removing a folder
#: there takes 0.1 ms, on this machine's disk 10 ms: more than the example itself).
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def scratch_dir() -> Any:
    """A temporary folder for one example (``with scratch_dir() as tmp:``)."""
    import tempfile

    return tempfile.TemporaryDirectory(prefix="avem-fuzz-", dir=SCRATCH)


def make_sandbox(base: Path) -> Path:
    """``base/root`` (a media root) with real files, a symlink and a symlinked folder leading
    out to ``base/outside``, and a symlink loop; returns the root."""
    root = base / "root"
    (root / "clips").mkdir(parents=True)
    (base / "outside").mkdir()
    (base / "outside" / "secret.mp4").write_bytes(b"x")
    for name in ("a.mp4", "b.mp4", "a.wav", "b.wav"):
        (root / "clips" / name).write_bytes(b"x")
    os.symlink(base / "outside" / "secret.mp4", root / "clips" / "link.mp4")
    os.symlink(base / "outside", root / "linkdir")
    os.symlink(root, root / "clips" / "loop")  # a folder that contains itself
    return root


# ------------------------------------------------------------------ byte mutations


_BAD_UTF8 = st.sampled_from([b"\xe9", b"\xff", b"\xc3", b"\xed\xa0\x80"])
BYTE_MUTATIONS: tuple[str, ...] = (
    "truncate",
    "bom",
    "crlf",
    "cr_only",
    "bad_utf8",
    "flip",
    "nul",
    "zero_range",
    "dup_line",
    "drop_line",
    "utf16",
)


@st.composite
def mutate_bytes(draw: st.DrawFn, data: bytes, kinds: Sequence[str] = BYTE_MUTATIONS) -> bytes:
    """``data`` with 0-2 byte-level mutations (the empty list shrinks to the valid file)."""
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=2)):
        n = len(data)
        pos = draw(st.integers(0, max(n - 1, 0)))
        if kind == "truncate":
            data = data[:pos]
        elif kind == "bom":
            data = b"\xef\xbb\xbf" + data
        elif kind == "crlf":
            data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        elif kind == "cr_only":
            data = data.replace(b"\n", b"\r")
        elif kind == "bad_utf8":
            data = data[:pos] + draw(_BAD_UTF8) + data[pos:]
        elif kind == "flip" and n:
            data = data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1 :]
        elif kind == "nul":
            data = data[:pos] + b"\x00" + data[pos:]
        elif kind == "zero_range" and n:
            end = min(n, pos + draw(st.integers(1, 64)))
            data = data[:pos] + b"\x00" * (end - pos) + data[end:]
        elif kind in ("dup_line", "drop_line"):
            lines = data.split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines[i : i + 1] = [lines[i], lines[i]] if kind == "dup_line" else []
            data = b"\n".join(lines)
        elif kind == "utf16":
            with contextlib.suppress(UnicodeDecodeError):
                data = data.decode("utf-8").encode("utf-16")
    return data


# ------------------------------------------------------------------ record mutations


RECORD_MUTATIONS: tuple[str, ...] = (
    "drop_field",
    "dup_field",
    "odd_value",
    "path",
    "extra_field",
    "dup_record",
    "drop_record",
    "not_a_record",
)


@st.composite
def mutate_records(
    draw: st.DrawFn,
    records: list[dict[str, Any]],
    *,
    fields: Sequence[str],
    path_fields: Sequence[str] = (),
    root: Path | None = None,
    max_mutations: int = 3,
) -> list[Any]:
    """``records`` (JSON objects) with 0-``max_mutations`` structural mutations; a record may
    become a :class:`Pairs` (a repeated key) or a non-object."""
    out: list[Any] = [dict(r) for r in records]
    for kind in draw(st.lists(st.sampled_from(RECORD_MUTATIONS), max_size=max_mutations)):
        if not out:
            break
        i = draw(st.integers(0, len(out) - 1))
        rec = out[i]
        if kind == "dup_record":
            out.insert(i, rec)
            continue
        if kind == "drop_record":
            del out[i]
            continue
        if kind == "not_a_record":
            out[i] = draw(odd_value())
            continue
        if not isinstance(rec, dict):
            continue
        field = draw(st.sampled_from(list(fields)))
        if kind == "drop_field":
            rec.pop(field, None)
        elif kind == "dup_field":
            out[i] = Pairs([*rec.items(), (field, draw(odd_value()))])
        elif kind == "odd_value":
            rec[field] = draw(odd_value())
        elif kind == "path" and path_fields and root is not None:
            rec[draw(st.sampled_from(list(path_fields)))] = draw(path_value(root))
        elif kind == "extra_field":
            rec[draw(odd_text())] = draw(odd_value())
    return out


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """A CSV (``\\n`` line ends, quoted where needed) as UTF-8 bytes; lone surrogates are
    written with ``surrogatepass`` so that they reach the reader as invalid UTF-8."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue().encode("utf-8", "surrogatepass")


_ODD_CELLS = st.sampled_from(
    ["1" * 5000, "1e999", "-0", "0.0", "nan", "inf", '"', ",", ";", "=1+1"]
)


@functools.cache
def csv_cell(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid cell (3 in 5), or an odd one: odd text, a huge number, a quote, a separator.
    Pass a strategy built once (module level): the result is cached by it."""
    return st.one_of(valid, valid, valid, _ODD_TEXT, _ODD_CELLS)


@st.composite
def mutate_table(
    draw: st.DrawFn, header: list[str], rows: list[list[str]]
) -> tuple[list[str], list[list[str]]]:
    """A table with 0-3 mutations: a column dropped, renamed, repeated or padded; a row with
    too many or too few cells; a row repeated or dropped."""
    header = list(header)
    rows = [list(r) for r in rows]
    kinds = (
        "drop_col",
        "rename_col",
        "dup_col",
        "extra_cells",
        "few_cells",
        "dup_row",
        "drop_row",
        "pad_header",
    )
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=3)):
        if kind in ("drop_col", "rename_col", "dup_col") and header:
            j = draw(st.integers(0, len(header) - 1))
            if kind == "drop_col":
                del header[j]
                for r in rows:
                    if j < len(r):
                        del r[j]
            elif kind == "rename_col":
                header[j] = draw(
                    st.sampled_from(
                        [
                            header[j].upper(),
                            f" {header[j]} ",
                            "\ufeff" + header[j],
                            "",
                            header[j] + "x",
                        ]
                    )
                )
            else:
                header.append(header[j])
                for r in rows:
                    r.append(draw(odd_text()))
        elif kind == "pad_header":
            header.append(draw(odd_text()))
        elif rows:
            i = draw(st.integers(0, len(rows) - 1))
            if kind == "extra_cells":
                rows[i] = rows[i] + draw(st.lists(odd_text(), min_size=1, max_size=3))
            elif kind == "few_cells":
                rows[i] = rows[i][: draw(st.integers(0, max(len(rows[i]) - 1, 0)))]
            elif kind == "dup_row":
                rows.insert(i, list(rows[i]))
            elif kind == "drop_row":
                del rows[i]
    return header, rows
