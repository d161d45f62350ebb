"""Launching training: recipes (YAML data), the ``avem dpo`` launcher and the ``trl dpo --recipe`` hook."""
