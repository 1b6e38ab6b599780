"""The local model: no key, no network (see :mod:`~optimizers.llm.local.model`).

* :mod:`~optimizers.llm.local.model`: :func:`local_model`, the client for it.
* :mod:`~optimizers.llm.local.weights`: find the pinned weight packages, join and verify them.
* :mod:`~optimizers.llm.local.shared_server`: reuse a healthy server or start one; hold a lease.
* :mod:`~optimizers.llm.local.server_process`: the server process itself (llama.cpp's server).
* :mod:`~optimizers.llm.local.files`: cache directory, file locks, atomic writes, errors.

The names below load :mod:`~optimizers.llm.local.model` on first use: the server process runs
``python -m optimizers.llm.local.server_process``, and this package must not have imported
that module already when it starts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optimizers.llm.local.model import (
        LocalModelError,
        LocalServer,
        LocalServerError,
        WeightsCorruptError,
        WeightsNotInstalledError,
        local_model,
        local_server,
    )

__all__ = [
    "LocalModelError",
    "LocalServer",
    "LocalServerError",
    "WeightsCorruptError",
    "WeightsNotInstalledError",
    "local_model",
    "local_server",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("optimizers.llm.local.model"), name)
    raise AttributeError(f"module 'optimizers.llm.local' has no attribute {name!r}")
