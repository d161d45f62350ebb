"""The model-adapter contract: what a plugin implements to serve a model family.

This package is the public API for adapter authors (``examples/avem-example-adapter``)::

    from avem_plugins.adapters import Example, ModelAdapter
    from avem_plugins.chat_template import ChatTemplateAdapter

- :mod:`.base` — :class:`ModelAdapter` (the ABC), :class:`Example`, :class:`Loaded`;
- :mod:`.chat_template` — :class:`ChatTemplateAdapter`, a base for families whose processor
  has a chat template;
- :mod:`.encoding` — encode-once helpers (per-token log-probs, encoder call counting).

Adapters are registered and looked up in :mod:`avem_plugins.registry`. Nothing heavy is
imported here.
"""

from __future__ import annotations

from avem_plugins.adapters.base import AdapterError, Example, Loaded, ModelAdapter
from avem_plugins.media import Media

__all__ = ["AdapterError", "Example", "Loaded", "Media", "ModelAdapter"]
