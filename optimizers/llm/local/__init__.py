"""The local model: no key, no network (see :mod:`~optimizers.llm.local.model`).

* :mod:`~optimizers.llm.local.model`: :func:`local_model`, the client for it.
* :mod:`~optimizers.llm.local.weights`: find the pinned weight packages, join and verify them.
* :mod:`~optimizers.llm.local.shared_server`: reuse a healthy server or start one; hold a lease.
* :mod:`~optimizers.llm.local.server_process`: the server process itself (llama.cpp's server).
* :mod:`~optimizers.llm.local.files`: cache directory, file locks, atomic writes, errors.
"""

from __future__ import annotations

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
