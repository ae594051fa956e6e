"""ecgkit's custom Keras objects are registered whenever Keras is loaded, so a saved model loads
with plain ``keras.models.load_model`` once ``ecgkit`` is imported.

Introduced in: notebooks/30_evaluation.ipynb.

A ``.keras`` file names its custom layers and metrics (``ecgkit>CaffePreprocessing``,
``ecgkit>MacroF1``); Keras finds them only if the modules defining them have been imported.
``import ecgkit`` must stay instant (the command line answers ``--help`` without TensorFlow),
so this module does not import Keras. :func:`install` (run by ``import ecgkit``) registers the
objects at once when Keras is already loaded; otherwise it adds an import hook that waits for
Keras to be loaded (TensorFlow loads it too) and registers them as soon as Keras, TensorFlow and
every ecgkit module being imported have finished initialising (registering in the middle of
``import ecgkit.model.factory`` would import the modules it is still importing). The hook removes
itself once done; until then it only watches those names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import logging
import sys

CUSTOM_OBJECT_MODULES = ("ecgkit.training.metrics", "ecgkit.training.training_config",
                         "ecgkit.model.attention", "ecgkit.model.calibration",
                         "ecgkit.model.ecg_block", "ecgkit.model.pyramid", "ecgkit.model.head",
                         "ecgkit.model.backbone", "ecgkit.model.context_branch",
                         "ecgkit.model.factory")
"""Modules whose import registers ecgkit's serializable layers, losses and metrics."""

_WATCHED = ("keras", "tensorflow")

log = logging.getLogger("ecgkit")


def register_custom_objects() -> list[str]:
    """Imports the ecgkit modules that register custom Keras objects; returns those found."""
    found = []
    for name in CUSTOM_OBJECT_MODULES:
        try:
            importlib.import_module(name)
            found.append(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return found


def _initialising(name: str) -> bool:
    module = sys.modules.get(name)
    spec = vars(module).get("__spec__") if module is not None else None  # no lazy __getattr__
    return bool(getattr(spec, "_initializing", False))


def _busy(finishing: str = "") -> bool:
    """True while Keras, TensorFlow or an ecgkit module (other than ``finishing``, whose import
    is completing) is still being imported."""
    names = [*_WATCHED, *(n for n in list(sys.modules) if n.startswith("ecgkit."))]
    return any(_initialising(n) for n in names if n != finishing)


class _KerasWatcher(importlib.abc.MetaPathFinder):
    """Import hook: after Keras, TensorFlow or an ecgkit module finishes loading, registers
    ecgkit's objects if Keras is loaded and nothing involved is half-imported."""

    def __init__(self):
        self.registering = False

    def find_spec(self, name, path=None, target=None):
        if name not in _WATCHED and not name.startswith("ecgkit."):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is not None and not isinstance(loader, type) and hasattr(loader, "exec_module"):
            run = loader.exec_module  # this module's own loader object: wrap only this call

            def exec_module(module, run=run, name=name):
                run(module)
                self.after(name)

            loader.exec_module = exec_module
        return spec

    def after(self, finishing: str) -> None:
        if self.registering or "keras" not in sys.modules or _busy(finishing):
            return
        self.registering = True
        try:
            register_custom_objects()
        except Exception as exc:  # never break the user's `import keras`
            log.warning(f"ecgkit could not register its Keras layers ({type(exc).__name__}: "
                        f"{exc}); load models with ecgkit.evaluation.predict.load_model")
        finally:
            uninstall()


_watcher: _KerasWatcher | None = None


def install() -> None:
    """Registers ecgkit's Keras objects now if Keras is loaded, else when it is."""
    global _watcher
    if "keras" in sys.modules and not _busy("ecgkit"):
        register_custom_objects()
        return
    if _watcher is None:
        _watcher = _KerasWatcher()
        sys.meta_path.insert(0, _watcher)


def uninstall() -> None:
    """Removes the import hook (registration then happens only through explicit imports)."""
    global _watcher
    if _watcher is not None and _watcher in sys.meta_path:
        sys.meta_path.remove(_watcher)
    _watcher = None
