"""avem-plugins: AVERE's EmoReAlM benchmark and AVEm-DPO as lmms-eval and TRL plugins.

Importing this package is cheap on purpose: it pulls in none of torch, transformers,
trl or lmms_eval. Heavy modules are imported where they are used.
"""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
