"""``avem synth clips`` and ``avem synth wav``: deterministic synthetic media."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

synth_app = typer.Typer(
    help="Write deterministic synthetic media (mp4 clips with visual/audio cues, wavs).",
    no_args_is_help=True,
)


@synth_app.command("clips")
def clips(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the clips and clips.csv into.")],
    n: Annotated[int, typer.Option("--n", min=0, help="Number of clips (emotions cycle).")] = 7,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed; the same seed gives the same media.")
    ] = 0,
    num_frames: Annotated[int, typer.Option("--frames", min=1, help="Frames per clip.")] = 16,
    fps: Annotated[int, typer.Option("--fps", min=1, help="Frames per second.")] = 8,
    width: Annotated[int, typer.Option("--width", min=2, help="Frame width (even).")] = 64,
    height: Annotated[int, typer.Option("--height", min=2, help="Frame height (even).")] = 64,
    audio: Annotated[
        bool, typer.Option("--audio/--no-audio", help="Write an AAC audio track.")
    ] = True,
) -> None:
    """Write N mp4 clips (H.264 + AAC) cycling through emotions, plus a clips.csv manifest."""
    from avem_plugins.testing.synth import make_clips

    records = make_clips(
        out_dir,
        n,
        seed=seed,
        num_frames=num_frames,
        fps=fps,
        size=(width, height),
        audio=audio,
    )
    typer.echo(f"wrote {len(records)} clips and {out_dir / 'clips.csv'}")


@synth_app.command("wav")
def wav(
    out: Annotated[Path, typer.Argument(help="The .wav file to write.")],
    cue: Annotated[
        str, typer.Option("--cue", help="Audio cue, e.g. high_tone, beeps.")
    ] = "mid_tone",
    seconds: Annotated[float, typer.Option("--seconds", min=0.001, help="Duration.")] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed.")] = 0,
    sample_rate: Annotated[
        int, typer.Option("--sample-rate", min=1, help="Sample rate in Hz.")
    ] = 16000,
) -> None:
    """Write a mono 16-bit PCM wav sounding an audio cue."""
    from avem_plugins.testing.synth import AUDIO_CUES, write_wav

    if cue not in AUDIO_CUES:
        raise typer.BadParameter(
            f"unknown cue {cue!r}; choose one of: {', '.join(AUDIO_CUES)}", param_hint="--cue"
        )
    write_wav(out, audio_cue=cue, seconds=seconds, seed=seed, sample_rate=sample_rate)
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(synth_app, name="synth")
