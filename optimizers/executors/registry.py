"""Executors by name: ``"local"``, ``"ray"``, ``"ray://host:port"``, or one a user registers.

Implementations are found through this table, so the protocol never imports its own
subclasses: Ray's module is loaded only when a ``ray`` setting asks for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from optimizers.executors.executor import Executor, ExecutorError
from optimizers.executors.local import LocalExecutor

__all__ = ["get_executor", "register_executor"]

Factory = Callable[..., Executor]


def _ray(address: str | None, **options: Any) -> Executor:
    module = importlib.import_module("optimizers.executors.ray")
    return module.RayExecutor(address=address, **options)


# scheme -> factory(address or None, **options); "ray://host:port" looks up "ray".
_FACTORIES: dict[str, Callable[..., Executor]] = {
    "local": lambda address, **options: LocalExecutor(**options),
    "ray": _ray,
}


def register_executor(scheme: str, factory: Callable[..., Executor]) -> None:
    """Make ``executor="scheme"`` (or ``"scheme://address"``) build ``factory(address, **kw)``.

    >>> register_executor("mine", lambda address, **options: LocalExecutor(**options))
    >>> type(get_executor("mine")).__name__
    'LocalExecutor'
    """
    if not scheme.isidentifier():
        raise ValueError(f"executor scheme {scheme!r} must be a plain name like 'ray'")
    _FACTORIES[scheme] = factory


def get_executor(spec: str | Executor | None = None, **options: Any) -> Executor:
    """An executor from a setting: None or ``"local"``, ``"ray"``, ``"ray://host:port"``, a
    registered scheme, or an executor object (returned as is).

    Args:
        spec: the setting.
        **options: passed to the executor's constructor (``concurrency=``, ``num_cpus=``...).
    """
    if spec is None:
        spec = "local"
    if isinstance(spec, str):
        scheme, sep, _ = spec.partition("://")
        factory = _FACTORIES.get(scheme)
        if factory is not None and (not sep or scheme != "local"):
            return factory(spec if sep else None, **options)
    elif isinstance(spec, Executor):
        return spec
    known = ", ".join(repr(s) for s in _FACTORIES)
    raise ExecutorError(
        f"executor={spec!r} is not known; expected one of {known}, 'ray://host:port' or an "
        "object with run(tasks, params=...) and arun(...)"
    )
