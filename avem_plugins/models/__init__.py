"""Compatibility with lmms-eval's legacy ``LMMS_EVAL_PLUGINS=avem_plugins`` variable.

lmms-eval 0.7.3 reads ``<plugin>.models.AVAILABLE_MODELS`` (name -> class in
``<plugin>.models.<name>``) and ``<plugin>.tasks`` for each package named in
``LMMS_EVAL_PLUGINS``. Neither is needed (the entry points do it all), but setting the
variable must not crash lmms-eval, so both exist. The entry point's manifest, loaded after
this one, replaces it with the full chat + simple registration.
"""

from __future__ import annotations

#: lmms-eval's legacy plugin table: model name -> class name in ``avem_plugins.models.<name>``.
AVAILABLE_MODELS: dict[str, str] = {"avem_av": "AvemAVSimple"}
