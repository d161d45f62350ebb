"""The ``emer`` lmms-eval task folder (YAML, README.md and ``utils.py``)."""
