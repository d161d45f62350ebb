"""``avem sources mafw|mer2025``: clips tables for ``avem prefs build`` from the paper's sources."""

# No ``from __future__ import annotations``: the commands' option annotations are built from
# SOURCES when each command is defined, so they must be evaluated then, not left as strings.

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from avem_plugins.cli.options import MediaRoot

if TYPE_CHECKING:
    from avem_plugins.prefs.sources import SourceTable

sources_app = typer.Typer(
    help="Turn MAFW / MER2025 label files into the clips table `avem prefs build` reads.",
    no_args_is_help=True,
)

Out = Annotated[Path, typer.Option("--out", "-o", help="The clips table (CSV) to write.")]
Captions = Annotated[
    Path | None,
    typer.Option(
        "--captions",
        help="CSV with 'name' and any of visual_caption, audio_caption, notes (applied last).",
    ),
]
AudioRoot = Annotated[
    Path | None,
    typer.Option(
        "--audio-root",
        help="Separate audio files named like the clips. Default: the clips' tracks.",
    ),
]
PerLabel = Annotated[
    int | None,
    typer.Option(
        "--per-label", min=1, help="Keep a seeded sample of N clips per label (the mismatch "
        "pool stays every clip)."
    ),
]  # fmt: skip
Seed = Annotated[int, typer.Option("--seed", help="Seeds the sample and the mismatch draws.")]
AllowMissing = Annotated[
    bool,
    typer.Option(
        "--allow-missing", help="Write the clips that exist when some labelled clips are missing."
    ),
]
Force = Annotated[bool, typer.Option("--force", help="Overwrite --out.")]


def _write_table(
    reader: Callable[..., "SourceTable"],
    root: Path,
    out: Path,
    *,
    per_label: int | None,
    seed: int,
    media_root: Path | None,
    allow_missing: bool,
    force: bool,
    **reader_args: Path | None,
) -> None:
    """Read a source with ``reader`` and write its clips table; what every command does."""
    from avem_plugins.prefs.sources import SourceError, sample_per_label, write_clip_table

    try:
        table = reader(root, **reader_args)
    except SourceError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from e
    if table.missing:
        shown = ", ".join(table.missing[:5]) + (" ..." if len(table.missing) > 5 else "")
        message = f"{len(table.missing)} labelled clips have no media file under {root}: {shown}"
        if not allow_missing:
            typer.echo(f"error: {message}; pass --allow-missing to write the others", err=True)
            raise typer.Exit(1)
        typer.echo(f"warning: {message}; left out (--allow-missing)", err=True)
    if not table.clips:
        typer.echo(f"error: no labelled clip with media in {table.label_file}", err=True)
        raise typer.Exit(1)
    chosen = sample_per_label(table.clips, per_label, seed=seed) if per_label else table.clips
    media = media_root or root
    try:
        write_clip_table(
            chosen, out, media_root=media, pool=table.clips, seed=seed, overwrite=force
        )
    except SourceError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from e
    counts = ", ".join(f"{label} {n}" for label, n in table.counts().items())
    typer.echo(
        f"{table.source}: {len(table.clips)} labelled clips in {table.label_file} ({counts})"
    )
    if table.unlabelled:
        typer.echo(f"left out {table.unlabelled} rows without a single label")
    typer.echo(f"wrote {len(chosen)} clips to {out}")
    uncaptioned = sum(not c.described for c in chosen)
    if uncaptioned:
        typer.echo(
            f"warning: {uncaptioned} clips have no caption or notes; `prefs build` rejects them "
            "(kind input): add --captions (or --descriptions / --subtitles)",
            err=True,
        )
    typer.echo(f"next: avem prefs build {out} --media-root {media} --out prefs.jsonl ...")


@dataclass(frozen=True)
class LabelledSource:
    """One ``avem sources`` command: a dataset whose label file names its clips.

    The commands differ only in these texts and in which of the dataset's own English texts
    the reader takes (``texts_option``, a keyword of ``reader``).
    """

    name: str
    summary: str
    reader: str  # a function of avem_plugins.prefs.sources
    root_help: str
    labels_help: str
    texts_option: str
    texts_help: str


SOURCES: tuple[LabelledSource, ...] = (
    LabelledSource(
        name="mafw",
        summary="MAFW single-label clips (11 classes) -> a clips table with label-drawn "
        "mismatches.",
        reader="mafw_clips",
        root_help="The MAFW folder (clips found by name inside).",
        labels_help="Labels/single-set.xlsx. Default: found under ROOT.",
        texts_option="descriptions",
        texts_help="Labels/descriptive_text.xlsx: English texts as visual captions.",
    ),
    LabelledSource(
        name="mer2025",
        summary="MER2025 track-1 labelled clips (6 classes) -> a clips table with label-drawn "
        "mismatches.",
        reader="mer2025_clips",
        root_help="The MER2025 folder (video/<name>.mp4).",
        labels_help="track1_train_disdim.csv. Default: found under ROOT.",
        texts_option="subtitles",
        texts_help="subtitle_chieng.csv: English subtitles as notes.",
    ),
)


def _command(source: LabelledSource) -> Callable[..., None]:
    """The ``avem sources <name>`` command of ``source``."""

    def command(
        root: Annotated[Path, typer.Argument(help=source.root_help)],
        out: Out,
        labels: Annotated[Path | None, typer.Option("--labels", help=source.labels_help)] = None,
        texts: Annotated[
            Path | None, typer.Option(f"--{source.texts_option}", help=source.texts_help)
        ] = None,
        captions: Captions = None,
        audio_root: AudioRoot = None,
        per_label: PerLabel = None,
        seed: Seed = 0,
        media_root: MediaRoot = None,
        allow_missing: AllowMissing = False,
        force: Force = False,
    ) -> None:
        from avem_plugins.prefs import sources

        _write_table(
            getattr(sources, source.reader), root, out, labels=labels, captions=captions,
            audio_root=audio_root, per_label=per_label, seed=seed, media_root=media_root,
            allow_missing=allow_missing, force=force, **{source.texts_option: texts},
        )  # fmt: skip

    command.__doc__ = source.summary
    command.__name__ = command.__qualname__ = source.name
    return command


for _source in SOURCES:
    sources_app.command(_source.name)(_command(_source))


def register(app: typer.Typer) -> None:
    app.add_typer(sources_app, name="sources")
