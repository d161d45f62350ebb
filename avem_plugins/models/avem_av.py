"""``avem_plugins.models.avem_av``: where lmms-eval's legacy plugin loader looks for the model."""

from __future__ import annotations

from avem_plugins.lmms.model import AvemAV, AvemAVSimple

__all__ = ["AvemAV", "AvemAVSimple"]
