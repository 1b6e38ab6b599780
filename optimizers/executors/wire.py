"""How a workflow travels to a Ray worker: pickled once, with its model clients as configuration.

A model client holds connections, locks and a key; none of that should be copied byte for byte.
When the bundle (workflow, feedback function, parameters) is pickled, every known client is
replaced by its *configuration* (class, model, endpoint, options; the key wrapped in
:class:`Secret` so it never shows in a repr or a log line), and the worker builds a fresh client
from it. The worker's client is charged against a :class:`RemoteBudget` and reads and writes a
:class:`RemoteCache`; both talk to one :class:`Ledger` actor that runs on the driver's machine,
holds the run's budgets (seeded with what the driver's budget had used) and opens the driver's
SQLite reply cache. So limits hold across all workers at once, and every paid reply lands in the
driver's cache, where a resumed run finds it.

This module never imports ray: the ledger is a plain class that ``ray_executor`` turns into an
actor, and the proxies receive a ``call(method, *args)`` function that reaches it.
"""

from __future__ import annotations

import inspect
import io
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from optimizers.errors import BudgetExceeded
from optimizers.llm.budget import Budget, Remaining
from optimizers.llm.cache import ResponseCache
from optimizers.llm.cassette import Cassette
from optimizers.llm.client_base import BaseClient
from optimizers.llm.scripted import ScriptedClient
from optimizers.llm.types import RawReply, Request, Usage

__all__ = ["Bundle", "Ledger", "RemoteBudget", "RemoteCache", "Secret", "dumps", "loads"]

Call = Callable[..., Any]  # call(method_name, *args) -> the ledger's answer


class Secret:
    """A key that travels to workers but never prints."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, (self.value,))


@dataclass
class Bundle:
    """What every task of one run shares: pickled once, unpickled afresh for each task."""

    workflow: Any
    feedback_fn: Any
    params: list[Any]


@dataclass
class Ledger:
    """Budgets, reply caches and attempt counts of one run (becomes a Ray actor).

    Budgets are keyed by the id the driver's Budget had; caches by their path.
    """

    budgets: dict[int, Budget] = field(default_factory=dict)
    caches: dict[str, ResponseCache] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget the previous run's budgets and attempts (caches stay open)."""
        self.budgets.clear()
        self.attempts.clear()

    def add_budget(self, key: int, limits: dict[str, Any], used: Usage) -> None:
        budget = Budget(**limits)
        budget.settle(used)  # start from what the driver had already spent
        self.budgets[key] = budget

    def reserve(self, key: int) -> tuple[str, float, float] | None:
        """Claim a call; the reason (limit, used, allowed) when the budget is exhausted."""
        try:
            self.budgets[key].reserve()
        except BudgetExceeded as exc:
            return exc.limit, exc.used, exc.allowed
        return None

    def settle(self, key: int, usage: Usage) -> None:
        self.budgets[key].settle(usage)

    def used(self, key: int) -> Usage:
        return self.budgets[key].used

    def remaining(self, key: int) -> Remaining:
        return self.budgets[key].remaining()

    def cache_get(self, path: str, request: Request, scope: str = "") -> RawReply | None:
        return self._cache(path).get(request, scope)

    def cache_put(self, path: str, request: Request, reply: RawReply, scope: str = "") -> None:
        self._cache(path).put(request, reply, scope)

    def cache_size(self, path: str) -> int:
        return len(self._cache(path))

    def _cache(self, path: str) -> ResponseCache:
        if path not in self.caches:
            self.caches[path] = ResponseCache(path)
        return self.caches[path]

    def begin(self, index: int) -> int:
        """Count one attempt at evaluation ``index``; return its number (1 for the first)."""
        self.attempts[index] = self.attempts.get(index, 0) + 1
        return self.attempts[index]


class RemoteBudget(Budget):
    """A worker's view of a driver budget: every reserve and settle goes to the ledger."""

    def __init__(self, call: Call, key: int, limits: dict[str, Any]) -> None:
        super().__init__(**limits)
        self._call, self._key = call, key

    def reserve(self, *, model: str | None = None, endpoint: str | None = None) -> None:
        reason = self._call("reserve", self._key)
        if reason is not None:
            raise BudgetExceeded(*reason, model=model, endpoint=endpoint)

    def settle(self, usage: Usage) -> None:
        self._call("settle", self._key, usage)

    @property
    def used(self) -> Usage:
        result: Usage = self._call("used", self._key)
        return result

    def remaining(self) -> Remaining:
        result: Remaining = self._call("remaining", self._key)
        return result

    def exhausted(self) -> bool:
        left = self.remaining()
        return any(v is not None and v <= 0 for v in vars(left).values())


class RemoteCache(ResponseCache):
    """A worker's view of the driver's reply cache (the ledger opens the SQLite file)."""

    def __init__(self, call: Call, path: str) -> None:  # no super().__init__: no local file
        self.path = path  # type: ignore[assignment]
        self._call = call

    def get(self, request: Request, scope: str = "") -> RawReply | None:
        result: RawReply | None = self._call("cache_get", str(self.path), request, scope)
        return result

    def put(self, request: Request, reply: RawReply, scope: str = "") -> None:
        self._call("cache_put", str(self.path), request, reply, scope)

    def __len__(self) -> int:
        return int(self._call("cache_size", str(self.path)))

    def clear(self) -> None:
        raise NotImplementedError("clear the cache on the driver")

    def close(self) -> None:
        """Nothing to close here."""


# ---------------------------------------------------------------------------------- clients
def _limits(budget: Budget) -> dict[str, Any]:
    left = budget.remaining().seconds
    return {
        "max_calls": budget.max_calls,
        "max_tokens": budget.max_tokens,
        "max_cost": budget.max_cost,
        "max_seconds": None if left is None else max(left, 1e-9),
    }


def _common(client: BaseClient, budgets: dict[int, Budget]) -> dict[str, Any]:
    """What every client's configuration shares: budget key, cache path, cassette, options."""
    cassette = client.cassette
    if cassette is not None and cassette.mode != "replay":
        raise pickle.PicklingError(
            f"{client!r} records to the cassette {cassette.path}; recordings made on workers "
            "would be lost: record with executor='local', then replay on the cluster"
        )
    if client.budget is not None:
        budgets[id(client.budget)] = client.budget
    # Private reads: the client layer has no public "configuration" yet (see docs/ray.md).
    return {
        "budget": None if client.budget is None else (id(client.budget), _limits(client.budget)),
        "cache": None if client.cache is None else str(client.cache.path),
        "cache_scope": client._cache_scope,
        "cassette": None if cassette is None else str(cassette.path),
        "prices": client.prices,
        "max_reasks": client.max_reasks,
        "mode": client._first_mode,
        "model": client.model,
    }


def client_config(client: BaseClient, budgets: dict[int, Budget]) -> tuple[str, dict[str, Any]]:
    """The configuration a worker rebuilds ``client`` from (its key wrapped in Secret)."""
    common = _common(client, budgets)
    if isinstance(client, ScriptedClient):
        common["replies"] = list(client._script[client._served :])
        return "scripted", common
    from optimizers.llm.openai_client import OpenAIClient

    if isinstance(client, OpenAIClient):
        common.update(
            base_url=client._base_url,
            api_key=Secret(client._secret),
            api_version=client.api_version,
            timeout=client.timeout,
            max_retries=client.max_retries,
            max_concurrency=client.limiter.maximum,
            backoff=client.backoff,
            max_retry_wait=client.max_retry_wait,
            max_text_length=client.max_text_length,
            max_reply_bytes=client.max_reply_bytes,
        )
        return "openai", common
    raise pickle.PicklingError(f"no configuration known for client class {type(client)!r}")


def build_client(kind: str, config: dict[str, Any], call: Call) -> BaseClient:
    """A fresh client on the worker from :func:`client_config`'s output."""
    options = dict(config)
    budget = options.pop("budget")
    options["budget"] = None if budget is None else RemoteBudget(call, budget[0], budget[1])
    cache = options.pop("cache")
    options["cache"] = None if cache is None else RemoteCache(call, cache)
    cassette = options.pop("cassette")
    options["cassette"] = None if cassette is None else Cassette(cassette, "replay")
    scope = options.pop("cache_scope", "")
    client: BaseClient
    if kind == "scripted":
        client = ScriptedClient(options.pop("replies"), **options)
    else:
        from optimizers.llm.openai_client import OpenAIClient

        options["api_key"] = options["api_key"].value
        client = OpenAIClient(**options)
    if scope:
        client.cache_scope = scope
    return client


# ---------------------------------------------------------------------------------- pickling
def _pickler_class() -> type[pickle.Pickler]:
    from ray import cloudpickle

    class ClientPickler(cloudpickle.CloudPickler):
        budgets: dict[int, Budget]

        def persistent_id(self, obj: Any) -> Any:
            if isinstance(obj, BaseClient):
                return ("tracegraph-client", *client_config(obj, self.budgets))
            if isinstance(obj, Budget):  # captured on its own, not through a client
                self.budgets[id(obj)] = obj
                return ("tracegraph-budget", id(obj), _limits(obj))
            if isinstance(obj, ResponseCache):
                return ("tracegraph-cache", str(obj.path), None)
            return None

    return ClientPickler


def dumps(obj: Any, budgets: dict[int, Budget] | None = None) -> bytes:
    """Pickle ``obj`` with cloudpickle: clients as configuration, budgets and reply caches as
    references to the ledger's; ``budgets`` collects every budget met."""
    buffer = io.BytesIO()
    pickler = _pickler_class()(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.budgets = {} if budgets is None else budgets  # type: ignore[attr-defined]
    pickler.dump(obj)
    return buffer.getvalue()


def loads(data: bytes, call: Call) -> tuple[Any, list[BaseClient]]:
    """Unpickle on the worker; return the object and the clients built for it."""
    made: list[BaseClient] = []

    class ClientUnpickler(pickle.Unpickler):
        def persistent_load(self, pid: Any) -> Any:
            tag, first, second = pid
            if tag == "tracegraph-budget":
                return RemoteBudget(call, first, second)
            if tag == "tracegraph-cache":
                return RemoteCache(call, first)
            if tag != "tracegraph-client":
                raise pickle.UnpicklingError(f"unknown persistent id {tag!r}")
            made.append(build_client(first, second, call))
            return made[-1]

    return ClientUnpickler(io.BytesIO(data)).load(), made


def find_culprit(obj: Any, path: str, depth: int = 0) -> tuple[str, str] | None:
    """The innermost part of ``obj`` that does not pickle: (path, why), or None if it does."""
    try:
        dumps(obj)
        return None
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
    if depth < 6:
        for child_path, child in _children(obj, path):
            found = find_culprit(child, child_path, depth + 1)
            if found is not None:
                return found
    return path, why


def _children(obj: Any, path: str) -> Iterator[tuple[str, Any]]:
    """The parts an object is pickled from (closure cells, globals, attributes, items)."""
    if inspect.isfunction(obj):
        found = inspect.getclosurevars(obj)
        for name, value in {**found.nonlocals, **found.globals}.items():
            yield f"{path} -> {name}", value
    elif inspect.ismethod(obj):
        yield f"{path}.__self__", obj.__self__
    elif isinstance(obj, dict):
        for key, value in list(obj.items())[:50]:
            yield f"{path}[{key!r}]", value
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for i, value in enumerate(list(obj)[:50]):
            yield f"{path}[{i}]", value
    elif hasattr(obj, "__dict__"):
        for key, value in list(vars(obj).items())[:50]:
            yield f"{path}.{key}", value
