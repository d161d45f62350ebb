"""The ``mer2023`` lmms-eval task folder (YAML, README.md and ``utils.py``)."""
