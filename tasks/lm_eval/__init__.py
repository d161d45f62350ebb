"""Task folder for lm-eval 0.4.13 (audio-only tasks): ``--include_path "$(avem tasks-dir --harness lm-eval)"``.

Also the target of the declared ``lm_eval.tasks`` entry point.
"""
