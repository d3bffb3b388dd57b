"""Plugins: Python files or modules that register models, metrics, layouts, backends, tools or op rules.

A plugin is trusted code, imported before the command line is parsed so that what it registers
appears in every ``choices=`` and ``--help``. Plugins are named, in this order, by

1. the ``eapbench.plugins`` entry-point group of installed packages (``pyproject.toml``:
   ``[project.entry-points."eapbench.plugins"] mine = "my_package.eapbench_plugin"``);
2. ``$EAPBENCH_PLUGINS``: paths or module names separated by ``os.pathsep`` (``:`` on Linux);
3. ``--plugin PATH|MODULE`` on the command line (repeatable, before or after the command).

A plugin that fails to import is reported in one line naming it (exit 2), never a traceback.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from bench.core.errors import UsageError

ENV_VAR = "EAPBENCH_PLUGINS"
ENTRY_POINT_GROUP = "eapbench.plugins"

_loaded: dict[str, ModuleType] = {}


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    return f"eapbench_plugin_{path.stem}_{digest}"


def import_file(path: str | os.PathLike, what: str = "plugin") -> ModuleType:
    """Import a ``.py`` file once (by its resolved path); errors in it become one :class:`UsageError` line."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{what} file {p} does not exist")
    name = _module_name(p)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise UsageError(f"{what} file {p} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:  # a file that calls sys.exit() at import must not end the command silently
        sys.modules.pop(name, None)
        raise UsageError(f"{what} file {p} called sys.exit({exc.code!r}) while being imported") from None
    except Exception as exc:  # the user's code: one line, not a traceback
        sys.modules.pop(name, None)
        raise UsageError(f"{what} file {p} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def load_plugin(ref: str) -> ModuleType:
    """Import one plugin, a ``.py`` path or a dotted module name; importing it twice does nothing."""
    ref = ref.strip()
    if not ref:
        raise UsageError("empty plugin name")
    if ref in _loaded:
        return _loaded[ref]
    if ref.endswith(".py") or os.sep in ref or "/" in ref:
        module = import_file(ref)
    else:
        try:
            module = importlib.import_module(ref)
        except SystemExit as exc:
            raise UsageError(
                f"plugin module {ref} called sys.exit({exc.code!r}) while being imported"
            ) from None
        except Exception as exc:
            raise UsageError(f"plugin module {ref} failed to import: {type(exc).__name__}: {exc}") from exc
    _loaded[ref] = module
    return module


def plugin_refs(cli: list[str] | None = None, environ: dict[str, str] | None = None) -> list[str]:
    """Every plugin to load: entry points, then ``$EAPBENCH_PLUGINS``, then ``--plugin`` values."""
    env = os.environ if environ is None else environ
    refs = [ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)]
    refs += [r for r in env.get(ENV_VAR, "").split(os.pathsep) if r.strip()]
    refs += list(cli or [])
    return list(dict.fromkeys(refs))


def load_plugins(cli: list[str] | None = None) -> list[ModuleType]:
    """Load every plugin :func:`plugin_refs` names; returns the imported modules."""
    return [load_plugin(ref) for ref in plugin_refs(cli)]
