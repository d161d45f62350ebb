"""The check every command runs before doing any work: are the hosts / extras it needs here?

``require("avem demo", "lmms-eval", "trl", "report", transformers=True)`` prints one line
naming the extra to install (``pip install 'avem-plugins[report]'``) and exits 1 when
something is missing (:mod:`avem_plugins.extras`; nothing heavy is imported).
"""

from __future__ import annotations

import typer


def require(command: str, *extras: str, transformers: bool = False) -> None:
    """Exit 1 with one line on stderr unless ``extras`` (and transformers, if asked) are here."""
    from avem_plugins.extras import MissingExtraError, RequirementError
    from avem_plugins.extras import require as check

    try:
        check(command, *extras, transformers=transformers)
    except (MissingExtraError, RequirementError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
