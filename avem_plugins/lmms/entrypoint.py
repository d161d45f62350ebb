"""The ``lmms_eval.models`` entry point: our model, and our tasks without flags.

lmms-eval calls :func:`manifests` when ``lmms_eval.models`` is imported (pyproject:
``avem = "avem_plugins.lmms.entrypoint:manifests"``). It

1. returns the :class:`ModelManifest` of the ``avem_av`` model (class paths as strings:
   nothing heavy is imported here), and
2. installs task discovery (:mod:`avem_plugins.lmms.discovery`) so ``--tasks emorealm``
   works with no ``--include_path``;
3. makes our task-loading errors fail fast and end the CLI with status 1
   (:mod:`avem_plugins.lmms.failures`);
4. names ``avem_av`` in the tables ``lmms-eval models`` prints (:func:`list_in_models_command`).

It is cheap, idempotent and never raises: lmms-eval loads all model entry points in one
``try`` block, so an exception here would disable every other plugin's models too.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

MODEL_ID = "avem_av"
#: The chat implementation (``is_simple = False``): what ``--model avem_av`` resolves to.
CHAT_CLASS = "avem_plugins.lmms.model.AvemAV"
#: The simple implementation, used with ``--force_simple``.
SIMPLE_CLASS = "avem_plugins.lmms.model.AvemAVSimple"

_last_status: dict[str, str] = {}


def build_manifests() -> list[Any]:
    """The model manifests we register (needs ``lmms_eval`` importable)."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return [
        ModelManifest(model_id=MODEL_ID, chat_class_path=CHAT_CLASS, simple_class_path=SIMPLE_CLASS)
    ]


def list_in_models_command() -> str:
    """Add ``avem_av`` to the tables behind ``lmms-eval models`` (and its wizard). Never raises.

    ``lmms-eval models`` prints ``AVAILABLE_CHAT_TEMPLATE_MODELS`` / ``AVAILABLE_SIMPLE_MODELS``
    of ``lmms_eval.models``, which list built-in models only (entry-point manifests go to the
    registry, which resolves ``--model``). Those tables exist when the entry points load
    (``lmms_eval.models`` is being imported) and only listings read them; lmms-eval's own
    ``LMMS_EVAL_PLUGINS`` loader adds plugin models to them the same way. Existing names are
    left alone.
    """
    import sys

    try:
        module = sys.modules.get("lmms_eval.models")
        if module is None:
            return "skipped: lmms_eval.models not imported"
        added = []
        for table, path in (
            ("AVAILABLE_CHAT_TEMPLATE_MODELS", CHAT_CLASS),
            ("AVAILABLE_SIMPLE_MODELS", SIMPLE_CLASS),
        ):
            models = getattr(module, table, None)
            if isinstance(models, dict) and MODEL_ID not in models:
                models[MODEL_ID] = path
                added.append(table)
        return f"ok: {', '.join(added) or 'already listed'}"
    except Exception as err:
        return f"failed: {type(err).__name__}: {err}"


def manifests() -> list[Any]:
    """Entry-point payload for ``lmms_eval.models``. Never raises."""
    try:
        from avem_plugins.lmms import discovery

        _last_status["discovery"] = discovery.install()
    except Exception as err:  # pragma: no cover - install() itself never raises
        _last_status["discovery"] = f"failed: {err}"
    try:
        from avem_plugins.lmms import failures

        _last_status["failures"] = failures.install()
    except Exception as err:  # pragma: no cover - install() itself never raises
        _last_status["failures"] = f"failed: {err}"
    _last_status["models_listing"] = list_in_models_command()
    try:
        result = build_manifests()
        _last_status["manifests"] = "ok"
        return result
    except Exception as err:
        _last_status["manifests"] = f"failed: {type(err).__name__}: {err}"
        log.warning("avem: could not build the avem_av model manifest: %s", err)
        return []


def status() -> dict[str, str]:
    """What the last :func:`manifests` call did (``discovery``, ``manifests``)."""
    return dict(_last_status)
