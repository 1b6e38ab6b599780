"""How the command line finds a trainer: a Python script, or a small TOML/JSON config naming one.

A **script** is a Python file with a factory function (default ``make_trainer``) returning a
:class:`~optimizers.trainer.Trainer`. The factory may take one argument, the run directory
(a ``Path``), so it can keep a client's cache inside the run::

    def make_trainer(run_dir):
        llm = OpenAIClient(model="gpt-4o-mini", cache=run_dir / "cache.sqlite")
        ...
        return Trainer(workflow, GraphOptimizer([prompt], llm=llm), train=..., feedback=...)

A **config** (``.toml`` or ``.json``) names a script and overrides settings::

    script = "train_prompt.py"     # relative to the config file
    factory = "make_trainer"       # optional
    run_dir = "runs/prompt"        # optional
    [trainer]                      # optional: batch_size, epochs, concurrency, patience,
    epochs = 3                     #   min_delta, noise, seed, max_steps, revert, quiet

The run directory is, first found: ``--run-dir``, the config's ``run_dir``, the trainer's own
``run_dir``, else ``runs/<script name>-<UTC time>``. ``run.json`` records the script, factory
and overrides, so ``tracegraph resume RUN_DIR`` rebuilds the same trainer.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any

from optimizers.trainer.rundir import RunDir
from optimizers.trainer.settings import OVERRIDABLE
from optimizers.trainer.trainer import Trainer
from tracegraph.errors import TracegraphError

__all__ = ["OVERRIDABLE", "LoadError", "load_config", "make_trainer"]


class LoadError(TracegraphError):
    """A script or config cannot be loaded, or does not give a Trainer."""


def _read_toml(path: Path, text: str) -> Any:
    try:
        import tomllib
    except ModuleNotFoundError as exc:  # Python 3.10 has no TOML reader in the stdlib
        raise LoadError(f"{path}: TOML configs need Python 3.11+; write it as JSON") from exc
    return tomllib.loads(text)


def load_config(path: Path) -> dict[str, Any]:
    """Read a TOML/JSON run config into ``{script, factory, run_dir, trainer}`` (paths resolved)."""
    try:
        text = path.read_text(encoding="utf-8")
        data = _read_toml(path, text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise LoadError(f"cannot read the run config {path}: {exc}") from exc
    if not isinstance(data, dict) or "script" not in data:
        raise LoadError(
            f'the run config {path} names no script; expected e.g. script = "train.py" '
            "(a Python file with make_trainer())"
        )
    unknown = sorted(set(data.get("trainer", {})) - set(OVERRIDABLE))
    if unknown:
        raise LoadError(
            f"the run config {path} sets unknown trainer settings {unknown}; "
            f"known: {list(OVERRIDABLE)}"
        )
    out: dict[str, Any] = {
        "script": str((path.parent / data["script"]).resolve()),
        "factory": data.get("factory", "make_trainer"),
        "overrides": dict(data.get("trainer", {})),
        "config": str(path.resolve()),
    }
    if "run_dir" in data:
        out["run_dir"] = str((path.parent / data["run_dir"]).resolve())
    return out


def _import_script(script: Path) -> Any:
    if not script.is_file():
        raise LoadError(f"no script at {script}; expected a Python file with make_trainer()")
    name = f"tracegraph_run_{abs(hash(str(script)))}"
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:
        raise LoadError(f"{script} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(script.parent))  # the script's own helpers import as usual
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(script.parent))
    return module


def _call_factory(module: Any, script: Path, factory: str, run_dir: Path) -> Trainer:
    fn = getattr(module, factory, None)
    if not callable(fn):
        raise LoadError(
            f"{script} has no function {factory}(); expected def {factory}(run_dir) -> Trainer"
        )
    takes_dir = len(inspect.signature(fn).parameters) >= 1
    trainer = fn(run_dir) if takes_dir else fn()
    if not isinstance(trainer, Trainer):
        raise LoadError(
            f"{script}:{factory}() returned {type(trainer).__name__}; expected an "
            "optimizers.Trainer"
        )
    return trainer


def make_trainer(
    source: dict[str, Any], *, run_dir: Path | None = None, quiet: bool | None = None
) -> Trainer:
    """Build the trainer ``source`` describes (``{script, factory, overrides, run_dir}``).

    The trainer's ``run_dir`` and ``source`` are set, so the run can be resumed from the CLI.
    """
    script = Path(source["script"])
    factory = source.get("factory", "make_trainer")
    chosen = run_dir or (Path(source["run_dir"]) if source.get("run_dir") else None)
    default = Path("runs") / f"{script.stem}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    module = _import_script(script)
    trainer = _call_factory(module, script, factory, (chosen or default).resolve())
    if chosen is None and trainer.rundir is None:
        chosen = default
    if chosen is not None:
        trainer.rundir = RunDir(chosen.resolve())
    changes = dict(source.get("overrides", {}))
    if quiet is not None:
        changes["quiet"] = quiet
    if changes:
        trainer.use_settings(dataclasses.replace(trainer.settings, **changes))
    trainer.source = {k: v for k, v in source.items() if k != "run_dir"}
    return trainer


def source_of(path: Path, factory: str | None = None) -> dict[str, Any]:
    """The source description of a SCRIPT_OR_CONFIG path given on the command line."""
    if path.suffix in (".toml", ".json"):
        source = load_config(path)
        if factory:
            source["factory"] = factory
        return source
    if path.suffix != ".py":
        raise LoadError(
            f"{path}: expected a Python script (.py) with make_trainer(), or a run config "
            "(.toml / .json) naming one"
        )
    return {"script": str(path.resolve()), "factory": factory or "make_trainer", "overrides": {}}
