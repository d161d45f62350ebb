"""The ``ravdess`` lmms-eval task folder (YAML, README.md and ``utils.py``)."""
