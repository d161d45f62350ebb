"""The lmms-eval task folders shipped with avem-plugins (``emorealm``, ``dfew``, ``ravdess``, ``emer``).

This package's folder is what lmms-eval indexes: found automatically through our
``lmms_eval.models`` entry point (see :mod:`avem_plugins.lmms.discovery`), or passed by
hand with ``--include_path "$(avem tasks-dir)"``. It is also the target of the declared
``lmms_eval.tasks`` entry point and of ``LMMS_EVAL_PLUGINS=avem_plugins``. The ``lm_eval``
sub-folder holds lm-eval (not lmms-eval) tasks.
"""
