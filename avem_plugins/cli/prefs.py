"""``avem prefs``: build, validate, sample, import and export AVEm-DPO preference data."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from avem_plugins.cli.options import MediaRoot, ModalityRule
from avem_plugins.modality import DEFAULT_MODALITY_RULE

prefs_app = typer.Typer(
    help="Preference data for AVEm-DPO: build with an LLM, validate, spot-check, import, export.",
    no_args_is_help=True,
)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@prefs_app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="Preference file: JSONL or a JSON list.")],
    media_root: MediaRoot = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write the per-row report here (.csv, else JSONL)."),
    ] = None,
    check_media: Annotated[
        bool, typer.Option("--check-media/--no-check-media", help="Check media files exist.")
    ] = True,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on warnings too.")] = False,
    modality_rule: ModalityRule = DEFAULT_MODALITY_RULE,
    show: Annotated[
        int, typer.Option("--show", min=0, help="Print at most this many issues.")
    ] = 50,
) -> None:
    """Check schema, media, duplicates, modality and PMP coverage; exit 1 on errors."""
    from avem_plugins.prefs.validate import validate_file, write_report

    result = validate_file(file, media_root, check_exists=check_media, modality_rule=modality_rule)
    shown = 0
    for row in result.rows:
        for issue in row.issues:
            if issue.level == "info" and issue.code != "modality_inferred":
                continue
            if shown < show:
                typer.echo(f"{issue.level}: {issue.code}: {issue.message}")
            shown += 1
    if shown > show:
        typer.echo(
            f"... {shown - show} more issues" + (f" in {report}" if report else " (use --report)")
        )
    if report is not None:
        typer.echo(f"per-row report: {write_report(result, report)}")
    typer.echo(result.format_summary())
    if not result.ok or (strict and result.warnings):
        raise typer.Exit(1)


@prefs_app.command("build")
def build(
    clips: Annotated[
        Path,
        typer.Argument(
            help="CSV of labelled clips: path, emotion[, id, audio, *_caption, *_cue, notes]."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Output JSONL. If it exists the build resumes: rows already in it are skipped and new "
            "rows appended; it is never overwritten (so there is no --force: delete it to start over).",
        ),
    ],
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1."
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model name sent to --endpoint.")
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            "--api-key-env",
            help="Environment variable holding the API key (default: OPENAI_API_KEY if set; local "
            "servers need none).",
        ),
    ] = None,
    local_model: Annotated[
        str | None,
        typer.Option(
            "--local-model", help="Path of a local transformers chat model (instead of --endpoint)."
        ),
    ] = None,
    templates: Annotated[
        Path | None,
        typer.Option(
            "--templates",
            help="Folder with system.txt and/or user.txt overriding the shipped prompt templates "
            "(`avem prefs templates DIR` copies them).",
        ),
    ] = None,
    media_root: MediaRoot = None,
    modalities: Annotated[
        str, typer.Option("--modalities", help="Comma list the questions cycle over.")
    ] = "audio,visual,audiovisual",
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Requests in flight.")
    ] = 4,
    max_retries: Annotated[
        int,
        typer.Option("--max-retries", min=0, help="Retries on 5xx/429/timeouts/connection errors."),
    ] = 5,
    backoff: Annotated[
        float,
        typer.Option(
            "--backoff", min=0.0, help="First retry delay in seconds (doubles each retry)."
        ),
    ] = 1.0,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds per request.")
    ] = 120.0,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0)] = 0.7,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", min=1, help="Max reply tokens.")
    ] = 1024,
    limit: Annotated[
        int | None, typer.Option("--limit", min=0, help="Generate at most N new rows in this run.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the mismatched-clip draw.")] = 0,
    retry_rejected: Annotated[
        bool, typer.Option("--retry-rejected", help="Also retry rows already in the rejects file.")
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
) -> None:
    """Generate preference rows (prompt, chosen, two negatives, mismatched clip) with an LLM."""
    from avem_plugins.prefs.build import PrefsBuildError, build_preferences
    from avem_plugins.prefs.llm_client import (
        ChatClient,
        LLMError,
        LocalChatClient,
        OpenAIChatClient,
        api_key_from_env,
    )

    if (endpoint is None) == (local_model is None):
        raise _fail("give exactly one of --endpoint URL (with --model) or --local-model PATH", 2)
    client: ChatClient
    try:
        if endpoint is not None:
            if not model:
                raise _fail("--endpoint needs --model NAME", 2)
            key = api_key_from_env(
                api_key_env or "OPENAI_API_KEY", required=api_key_env is not None
            )
            client = OpenAIChatClient(
                endpoint, model, api_key=key, timeout=timeout, max_retries=max_retries,
                backoff=backoff, temperature=temperature, max_tokens=max_tokens,
            )  # fmt: skip
        else:
            assert local_model is not None
            from avem_plugins.cli.extras import require

            require("avem prefs build --local-model", transformers=True)
            client = LocalChatClient(
                local_model, max_new_tokens=max_tokens, temperature=temperature
            )
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        result = build_preferences(
            clips, out, client,
            templates_dir=templates, media_root=media_root,
            modalities=[m.strip() for m in modalities.split(",") if m.strip()],
            concurrency=concurrency, limit=limit, seed=seed,
            retry_rejected=retry_rejected, progress=progress,
        )  # fmt: skip
    except (PrefsBuildError, LLMError) as e:
        raise _fail(str(e)) from e
    typer.echo(result.summary())
    if result.aborted is not None:
        raise typer.Exit(1)


@prefs_app.command("templates")
def templates_cmd(
    out_dir: Annotated[
        Path, typer.Argument(help="Folder to copy the shipped prompt templates into.")
    ],
) -> None:
    """Copy the shipped prompt templates for editing (then pass --templates DIR to build)."""
    import shutil

    from avem_plugins.prefs.build import TEMPLATE_FILES, shipped_templates_dir

    out_dir.mkdir(parents=True, exist_ok=True)
    for name in TEMPLATE_FILES:
        target = out_dir / name
        if target.exists():
            raise _fail(f"{target} exists; not overwriting it")
        shutil.copyfile(shipped_templates_dir() / name, target)
        typer.echo(f"wrote {target}")


@prefs_app.command("sample")
def sample(
    file: Annotated[Path, typer.Argument(help="Preference file to sample from.")],
    n: Annotated[int, typer.Option("-n", "--n", min=1, help="Number of rows to review.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for review.csv and review.html.")],
    media_root: MediaRoot = None,
    seed: Annotated[int, typer.Option("--seed", help="Sampling seed.")] = 0,
    links: Annotated[
        str,
        typer.Option(
            "--links",
            help="Media URLs in the page: 'relative' (to the page; move folder and media together) "
            "or 'file' (absolute file:// URLs).",
        ),
    ] = "relative",
) -> None:
    """Stratified sample (emotion x modality x negatives) as CSV and an HTML page with the clips."""
    from avem_plugins.prefs.review import sample_for_review
    from avem_plugins.prefs.schema import PreferenceDataError

    try:
        picked, csv_path, html_path = sample_for_review(
            file, n, out, media_root, seed=seed, links=links
        )
    except (PreferenceDataError, ValueError) as e:
        raise _fail(f"{e} (run `avem prefs validate` for every problem)") from e
    typer.echo(f"{len(picked)} rows: {csv_path}, {html_path}")


@prefs_app.command("import")
def import_(
    authors_json: Annotated[
        Path, typer.Argument(help="The authors' DPO JSON (or any preference file).")
    ],
    out: Annotated[Path, typer.Option("--out", help="JSONL to write (our schema).")],
    media_root: MediaRoot = None,
    check_media: Annotated[
        bool,
        typer.Option("--check-media/--no-check-media", help="Require the media files to exist."),
    ] = True,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
    modality_rule: ModalityRule = DEFAULT_MODALITY_RULE,
) -> None:
    """Import the authors' DPO JSON (markers stripped, paths checked, modality written out)."""
    from avem_plugins.prefs.io import PrefsIOError, import_authors
    from avem_plugins.prefs.schema import PreferenceDataError, modality_summary

    try:
        samples = import_authors(
            authors_json, out, media_root, check_exists=check_media, force=force,
            modality_rule=modality_rule,
        )  # fmt: skip
    except (PreferenceDataError, PrefsIOError) as e:
        raise _fail(str(e)) from e
    inferred = sum(s.modality_inferred for s in samples)
    typer.echo(f"imported {len(samples)} rows into {out} (modality not given for {inferred})")
    typer.echo(modality_summary(samples, modality_rule))


@prefs_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="Preference file to export.")],
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write train.jsonl and/or dataset/.")
    ],
    media_root: MediaRoot = None,
    formats: Annotated[
        str,
        typer.Option(
            "--format",
            help="Comma list: 'jsonl' (train.jsonl; pass the folder as --dataset_name) and/or 'disk' "
            "(dataset/, datasets.save_to_disk, for load_from_disk).",
        ),
    ] = "jsonl,disk",
    check_media: Annotated[
        bool,
        typer.Option("--check-media/--no-check-media", help="Require the media files to exist."),
    ] = True,
    force: Annotated[bool, typer.Option("--force", help="Replace existing exports.")] = False,
) -> None:
    """Validate and export: train.jsonl for --dataset_name, dataset/ for datasets.load_from_disk."""
    from avem_plugins.prefs.io import PrefsIOError, export_preferences
    from avem_plugins.prefs.schema import PreferenceDataError

    try:
        written = export_preferences(
            file, out, media_root,
            formats=[f.strip() for f in formats.split(",") if f.strip()],
            check_exists=check_media, force=force,
        )  # fmt: skip
    except (PreferenceDataError, PrefsIOError) as e:
        raise _fail(str(e)) from e
    root = (media_root or file.resolve().parent).resolve()
    for fmt, path in written.items():
        typer.echo(f"{fmt}: {path}")
    if "jsonl" in written:
        typer.echo(f"train with: --dataset_name {out} --media_root {root}")


def register(app: typer.Typer) -> None:
    app.add_typer(prefs_app, name="prefs")
