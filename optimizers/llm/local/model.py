"""A real model on this machine, with no key and no network: :func:`local_model`.

``local_model()`` returns an :class:`~optimizers.llm.openai_client.OpenAIClient` that talks to
llama.cpp's OpenAI-compatible server on 127.0.0.1, running Qwen2.5-Coder-1.5B-Instruct (Q4_K_M)
from the ``tracegraph[local]`` extra, the 0.5B model from ``tracegraph[local-small]``, or any
GGUF file you give.

What happens on the first call, and what is shared:

* **Weights.** The extra installs pinned packages that each carry one chunk of the GGUF file.
  They are joined once into ``$TRACEGRAPH_CACHE_DIR/models`` (default
  ``~/.cache/tracegraph/models``) under a file lock, and the sha256 is checked before the file is
  renamed into place; a mismatch is refused with :class:`WeightsCorruptError`.
* **One server per machine and user.** The server runs in a small process of its own
  (``python -m optimizers.llm.local.server_process``), not inside yours, so every process
  that asks for the same model and context size (pytest workers, a CLI, a notebook) shares it: one
  copy of the
  weights in RAM, no port clashes (the OS picks a free port, the server reports it in a state
  file), and a random API key that only your user can read (state file mode 0600).
* **No orphans.** Each client holds a lease (an ``flock``-ed file) for as long as the client
  object lives; the kernel drops it when the process dies, even on ``kill -9``. The server exits
  by itself ``idle_timeout`` seconds after the last lease is gone. A stale state file (dead
  process, port not answering with our key) is detected and replaced.
* **Determinism.** With ``temperature=0`` the answers are byte-identical across repeats and
  server restarts on the same build and machine.

Use a hosted model instead by setting ``OPENAI_API_KEY`` (and ``OPENAI_BASE_URL`` for another
OpenAI-compatible endpoint), or by building ``OpenAIClient(model=..., base_url=..., api_key=...)``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizers.llm.local.files import (
    HOSTED_HOWTO,
    LocalModelError,
    LocalServerError,
    WeightsCorruptError,
    WeightsNotInstalledError,
    cache_dir,
)
from optimizers.llm.local.shared_server import LocalServer, ServerConfig, acquire_server
from optimizers.llm.local.weights import (
    WEIGHT_SETS,
    check_gguf,
    check_runtime,
    ensure_weights,
)

if TYPE_CHECKING:
    from optimizers.llm.openai_client import OpenAIClient

__all__ = [
    "LocalModelError",
    "LocalServer",
    "LocalServerError",
    "WeightsCorruptError",
    "WeightsNotInstalledError",
    "local_model",
    "local_server",
]

_MAX_DEFAULT_THREADS = 8


def _default_threads() -> int:
    # llama.cpp decodes best on physical cores; past ~8 threads memory bandwidth is the limit.
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        cpus = os.cpu_count() or 2
    return max(1, min(cpus, _MAX_DEFAULT_THREADS))


def _resolve_model(size: str, gguf_path: str | os.PathLike[str] | None) -> tuple[Path, str, str]:
    """Return (model file, model id, model name) for a size or a user's GGUF file."""
    if gguf_path is not None:
        path = check_gguf(Path(gguf_path))
        st = path.stat()
        # Hashing a user's multi-GB file on every start is too slow: identify it by path,
        # size and mtime instead (a changed file gets a new server).
        ident = f"{path}:{st.st_size}:{st.st_mtime_ns}".encode()
        model_id = "file-" + hashlib.sha256(ident).hexdigest()
        # The id in the name keeps reply-cache entries of two files with one name apart.
        return path, model_id, f"{path.stem}-{model_id[5:13]}"
    ws = WEIGHT_SETS[size]
    return ensure_weights(ws, cache_dir() / "models"), ws.sha256, ws.model


def local_server(
    size: str = "1.5b",
    *,
    gguf_path: str | os.PathLike[str] | None = None,
    n_ctx: int = 4096,
    threads: int | None = None,
    parallel: int = 1,
    max_reply_tokens: int = 2048,
    idle_timeout: float = 300.0,
    start_timeout: float = 300.0,
) -> LocalServer:
    """Join and verify the weights if needed, then lease the shared server for them.

    Use this for raw access to the endpoint (``.base_url``, ``.api_key``); most code wants
    :func:`local_model`. Release the lease with ``.release()`` or a ``with`` block.

    Args:
        size: ``"1.5b"`` (Qwen2.5-Coder-1.5B-Instruct) or ``"0.5b"`` (Qwen2.5-Coder-0.5B).
        gguf_path: A GGUF file of your own; ``size`` is then ignored.
        n_ctx: Context size in tokens (one server per model and context size).
        threads: CPU threads for llama.cpp; default: the usable cores, at most 8.
        parallel: Requests the server decodes at once, each with ``n_ctx`` tokens. The default
            1 queues concurrent requests: batched decoding can change temperature-0 answers
            with the load, and on a small CPU it gains little.
        max_reply_tokens: The server's default and ceiling for ``max_tokens``, so one request
            without a limit cannot hold the shared server for minutes.
        idle_timeout: Seconds the server lives on after the last lease is released.
            ``max_reply_tokens`` and ``idle_timeout`` are set by the process that starts the
            server; joining a running one keeps its settings.
        start_timeout: Seconds to wait for the server to load the model.

    Raises:
        WeightsNotInstalledError: The extra is not installed (the message gives the pip line).
        WeightsCorruptError: The joined weights do not match the published sha256.
        LocalServerError: The server did not start (the message quotes its log).
    """
    if gguf_path is None and size not in WEIGHT_SETS:
        raise LocalModelError(
            f"local_model(size={size!r}): unknown size; expected one of {sorted(WEIGHT_SETS)}",
            fix="pass size='1.5b' (default) or size='0.5b', or gguf_path='your-model.gguf'",
        )
    check_runtime()
    model_path, model_id, model = _resolve_model(size, gguf_path)
    cfg = ServerConfig(
        model_path=model_path,
        model_id=model_id,
        model=model,
        n_ctx=n_ctx,
        threads=threads or _default_threads(),
        parallel=parallel,
        max_reply_tokens=max_reply_tokens,
        idle_timeout=idle_timeout,
        start_timeout=start_timeout,
    )
    state_dir = cache_dir() / "servers" / f"{model_id[:21]}-ctx{n_ctx}-p{parallel}"
    return acquire_server(cfg, state_dir)


def local_model(
    size: str = "1.5b",
    *,
    gguf_path: str | os.PathLike[str] | None = None,
    n_ctx: int = 4096,
    threads: int | None = None,
    parallel: int = 1,
    max_reply_tokens: int = 2048,
    idle_timeout: float = 300.0,
    quiet: bool = False,
    **client_options: Any,
) -> OpenAIClient:
    """Return a client for a real model running on this machine (no key, no network).

    The first call joins the weights (~5 s) and starts the shared server (~2-5 s); later calls,
    in this or any other process, reuse both. The server is held for as long as the returned
    client lives.

    Args:
        size: ``"1.5b"`` (default, from ``tracegraph[local]``) or ``"0.5b"``
            (from ``tracegraph[local-small]``).
        gguf_path: A GGUF file of your own instead of the packaged weights.
        n_ctx: Context size in tokens.
        threads: CPU threads for llama.cpp (default: usable cores, at most 8).
        parallel: Requests decoded at once by the server.
        max_reply_tokens: The server's default and ceiling for ``max_tokens``.
        idle_timeout: Seconds the server lives on once no client holds it.
        quiet: Do not print which model is in use.
        **client_options: Passed to ``OpenAIClient`` (``cache=``, ``budget=``...); ``timeout``
            defaults to 900 s here, since requests queue on the shared server.

    Example (needs the ``[local]`` extra)::

        llm = local_model()
        reply = llm.complete([{"role": "user", "content": "x=3 is too small; propose x"}])
    """
    from optimizers.llm.openai_client import OpenAIClient

    server = local_server(
        size,
        gguf_path=gguf_path,
        n_ctx=n_ctx,
        threads=threads,
        parallel=parallel,
        max_reply_tokens=max_reply_tokens,
        idle_timeout=idle_timeout,
    )
    # A shared CPU server queues requests from every process: a wait of minutes behind other
    # callers is normal, and a timed-out request keeps the server busy while its retry queues.
    client_options.setdefault("timeout", 900.0)
    try:
        client = OpenAIClient(
            model=server.model,
            base_url=server.base_url + "/v1",
            api_key=server.api_key,
            **client_options,
        )
    except BaseException:
        server.release()
        raise
    # The port changes when the server restarts; the model name names the weights: cache by it.
    client.cache_scope = "tracegraph-local-model"
    weakref.finalize(client, server.release)  # the lease lives exactly as long as the client
    if not quiet:
        _announce(server)
    return client


def _announce(server: LocalServer) -> None:
    how = "started" if server.started else "shared"
    sys.stderr.write(
        f"tracegraph: using the local model {server.model} via llama.cpp at {server.base_url} "
        f"({how}, pid {server.pid}; it stops when idle); {HOSTED_HOWTO}.\n"
    )
