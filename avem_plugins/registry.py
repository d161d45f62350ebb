"""The plugin registry: the plugin manager, and what plugins register (adapters, task and
recipe folders), looked up with one error policy. Built-ins load exactly like third-party plugins.

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
from pathlib import Path
from typing import Any

import pluggy

from avem_plugins import hookspecs
from avem_plugins.adapters.base import AdapterError, ModelAdapter
from avem_plugins.hookspecs import PluginError

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


def available_adapters() -> dict[str, type[ModelAdapter]]:
    """Every adapter registered by a loaded plugin, by name."""
    found: dict[str, type[ModelAdapter]] = {}

    def register(cls: type[ModelAdapter]) -> None:
        if not (isinstance(cls, type) and issubclass(cls, ModelAdapter)):
            raise AdapterError(f"{cls!r} is not a ModelAdapter subclass")
        name = getattr(cls, "name", None)
        if not name:
            raise AdapterError(f"adapter {cls.__qualname__} has no `name`")
        if name in found and found[name] is not cls:
            raise AdapterError(
                f"two plugins register an adapter named {name!r}: "
                f"{found[name].__module__} and {cls.__module__}; "
                "block one with AVEM_BLOCK_PLUGINS=..."
            )
        found[name] = cls

    load_plugins().hook.avem_register_model_adapters(register=register)
    return found


def get_adapter(name: str = "auto", config: Any = None, **options: Any) -> ModelAdapter:
    """An adapter by name, or the one whose ``matches(config)`` is true for ``auto``.

    ``options`` go to the adapter's constructor (e.g. ``video_max_pixels`` for the
    Qwen-Omni adapters); an adapter without options rejects them.
    """
    adapters = available_adapters()
    if name != "auto":
        if name not in adapters:
            raise AdapterError(
                f"no model adapter named {name!r}; installed: {sorted(adapters)} "
                "(see `avem plugins`)"
            )
        return adapters[name](**options)
    if config is None:
        raise AdapterError("adapter=auto needs the model config; pass adapter=NAME instead")
    hits = [cls for cls in adapters.values() if cls.matches(config)]
    # A family's own adapter wins over a generic fallback that also matches.
    hits.sort(key=lambda cls: bool(getattr(cls, "fallback", False)))
    if not hits:
        raise AdapterError(
            f"no adapter matches model_type={getattr(config, 'model_type', None)!r}; "
            f"installed: {sorted(adapters)}. Pass adapter=NAME (e.g. adapter=hf_generic) "
            "or install a plugin for this family"
        )
    return hits[0](**options)


def builtin_task_dir() -> Path:
    """The folder of the tasks shipped with avem-plugins (``avem_plugins.tasks``)."""
    import avem_plugins.tasks

    return Path(avem_plugins.tasks.__file__).resolve().parent


def builtin_recipe_dir() -> Path:
    """The folder of the recipes shipped with avem-plugins (``avem_plugins.recipes``)."""
    import avem_plugins.recipes

    return Path(avem_plugins.recipes.__file__).resolve().parent


def _registered_dirs(hook: str, what: str) -> list[Path]:
    found: list[Path] = []

    def register(path: Path | str) -> None:
        resolved = Path(os.path.expanduser(path)).resolve()
        if not resolved.is_dir():
            raise PluginError(
                f"a plugin registered {what} folder {resolved}, which is not a directory; "
                "fix or block that plugin (AVEM_BLOCK_PLUGINS=..., see `avem plugins`)"
            )
        if resolved not in found:
            found.append(resolved)

    getattr(load_plugins().hook, hook)(register=register)
    return found


def task_dirs() -> list[Path]:
    """Task folders registered through ``avem_register_task_dirs``, in order, de-duplicated."""
    return _registered_dirs("avem_register_task_dirs", "task")


def recipe_dirs() -> list[Path]:
    """Recipe folders registered through ``avem_register_recipe_dirs``, in order, de-duplicated."""
    return _registered_dirs("avem_register_recipe_dirs", "recipe")
