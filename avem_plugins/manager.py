"""The plugin manager (``avem_plugins.manager``): built-ins load exactly like third-party plugins.

Third-party plugins are distributions that declare an entry point in the ``avem`` group::

    [project.entry-points.avem]
    my_adapter = "my_package.avem_plugin"

Environment variables:

- ``AVEM_PLUGINS``: comma-separated allow-list of plugin names to load (built-ins and
  entry points alike). Unset: load everything. Empty string: load nothing.
- ``AVEM_BLOCK_PLUGINS``: comma-separated names never to load.
"""

from __future__ import annotations

import importlib
import os
import threading
from importlib.metadata import entry_points

import pluggy

from avem_plugins import hookspecs

#: First-party plugins, registered through the same path as entry points.
DEFAULT_PLUGINS: dict[str, str] = {
    "qwen2_5_omni": "avem_plugins.plugins.qwen2_5_omni",
    "qwen3_omni": "avem_plugins.plugins.qwen3_omni",
    "hf_generic": "avem_plugins.plugins.hf_generic",
    "builtin_dirs": "avem_plugins.plugins.builtin_dirs",
}

pm = pluggy.PluginManager(hookspecs.PROJECT)
pm.add_hookspecs(hookspecs)

_loaded = False
_lock = threading.Lock()


def _names(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


def _wanted(name: str) -> bool:
    allow, block = _names("AVEM_PLUGINS"), _names("AVEM_BLOCK_PLUGINS") or set()
    return name not in block and (allow is None or name in allow)


def load_plugins() -> pluggy.PluginManager:
    """Load built-in and entry-point plugins once; later calls are free."""
    global _loaded
    with _lock:
        if _loaded:
            return pm
        for name, module in DEFAULT_PLUGINS.items():
            if _wanted(name) and pm.get_plugin(name) is None:
                pm.register(importlib.import_module(module), name=name)
        for ep in entry_points(group=hookspecs.PROJECT):
            if not _wanted(ep.name) or pm.get_plugin(ep.name) is not None:
                continue
            pm.register(ep.load(), name=ep.name)
        # A misspelled hook (``avem_register_adapter``) fails here, loudly.
        pm.check_pending()
        _loaded = True
    return pm


def reset_plugins() -> None:
    """Unregister every plugin so the next :func:`load_plugins` starts afresh (tests)."""
    global _loaded
    with _lock:
        for plugin in list(pm.get_plugins()):
            pm.unregister(plugin)
        _loaded = False


def describe_plugins() -> list[dict[str, object]]:
    """Name, module, version and implemented hooks of every loaded plugin."""
    load_plugins()
    dists = {ep.name: ep.dist for ep in entry_points(group=hookspecs.PROJECT)}
    out = []
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin) or repr(plugin)
        dist = dists.get(name)
        out.append(
            {
                "name": name,
                "module": getattr(plugin, "__name__", type(plugin).__name__),
                "distribution": dist.name if dist else "avem-plugins",
                "version": dist.version if dist else _own_version(),
                "builtin": name in DEFAULT_PLUGINS,
                "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or []),
            }
        )
    return sorted(out, key=lambda d: (not d["builtin"], str(d["name"])))


def _own_version() -> str:
    from avem_plugins import __version__

    return __version__
