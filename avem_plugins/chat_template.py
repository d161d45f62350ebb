"""Public import path for :class:`ChatTemplateAdapter` (third-party adapters import it from here).

The implementation lives in :mod:`avem_plugins.adapters.chat_template`; this path is part of
the plugin API that out-of-tree adapters (``examples/avem-example-adapter``) rely on.
"""

from __future__ import annotations

from avem_plugins.adapters.chat_template import ChatTemplateAdapter

__all__ = ["ChatTemplateAdapter"]
