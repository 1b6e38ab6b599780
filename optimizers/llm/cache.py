"""A persistent reply cache in SQLite, keyed by a hash of the full request and of who answers.

The key covers the model name, every message, the response format (so the schema), every option
(temperature, seed, max_tokens...) and the client's ``cache_scope``: its endpoint (without
credentials), so two servers answering to one model name never share replies (the local model
scopes by its weight file instead, so a restart on another port still hits). The key is never
part of it. A sample (``temperature`` above zero) is neither served from nor stored in the cache
unless it carries a ``seed``: a seeded sample is a deliberate, repeatable one (:func:`cacheable`).

WAL journalling lets one writer and many readers work at once, and a busy timeout makes threads
and processes that write together wait for each other instead of failing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from tenacity import retry, retry_if_exception, stop_after_delay, wait_random

from optimizers.errors import ClientConfigError
from optimizers.llm.types import RawReply, Request

__all__ = ["ResponseCache", "cacheable", "default_cache_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    reply TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def cacheable(request: Request) -> bool:
    """Whether a reply to ``request`` may be served from or stored in a cache: not a sample
    (``temperature`` above zero) unless a ``seed`` names it.

    >>> ask = ({"role": "user", "content": "hi"},)
    >>> [cacheable(Request("m", ask, None, o)) for o in ({}, {"temperature": 0},
    ...     {"temperature": 0.7}, {"temperature": 0.7, "seed": 3})]
    [True, True, False, True]
    """
    temperature = request.options.get("temperature")
    sampled = isinstance(temperature, (int, float)) and temperature > 0
    return not sampled or request.options.get("seed") is not None


def _key(request: Request, scope: str) -> str:
    return hashlib.sha256(f"{scope}\n{request.key()}".encode()).hexdigest()


def default_cache_path() -> Path:
    """``$TRACEGRAPH_CACHE_DIR/llm.sqlite``, else under ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    root = os.environ.get("TRACEGRAPH_CACHE_DIR")
    if root:
        return Path(root) / "llm.sqlite"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "tracegraph" / "llm.sqlite"


@retry(
    retry=retry_if_exception(lambda e: "locked" in str(e)),
    stop=stop_after_delay(30),
    wait=wait_random(0.05, 0.5),
    reraise=True,
)
def _set_up(db: sqlite3.Connection) -> None:
    """WAL mode and the table. Switching to WAL takes a lock SQLite's busy timeout does not
    wait for: two processes opening a new cache at once saw "database is locked" (measured
    under load), so the switch is tried again for up to 30 s."""
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(_SCHEMA)
    db.commit()


class ResponseCache:
    """Replies on disk, addressed by :meth:`Request.key`.

    >>> import tempfile, pathlib
    >>> cache = ResponseCache(pathlib.Path(tempfile.mkdtemp()) / "c.sqlite")
    >>> req = Request("m", ({"role": "user", "content": "hi"},))
    >>> cache.get(req, "http://a/v1") is None
    True
    >>> cache.put(req, RawReply("hello", "m"), "http://a/v1")
    >>> cache.get(req, "http://a/v1").text, cache.get(req, "http://a/v1").cached
    ('hello', True)
    >>> cache.get(req, "http://b/v1") is None  # another endpoint: its own replies
    True
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One connection per instance, shared by threads under a lock; other processes
            # coordinate through SQLite's own locking (busy timeout below).
            self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            _set_up(self._db)
        except (OSError, sqlite3.Error) as exc:
            raise ClientConfigError(
                f"cannot open the reply cache at {self.path}: {exc}",
                fix="pass cache=<a writable path>, or cache=None to turn the cache off",
            ) from exc
        self._lock = threading.Lock()

    def get(self, request: Request, scope: str = "") -> RawReply | None:
        """The stored reply for ``request`` sent to ``scope`` (marked ``cached``), or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT reply FROM replies WHERE key = ?", (_key(request, scope),)
            ).fetchone()
        if row is None:
            return None
        return RawReply.from_dict(json.loads(row[0]), cached=True)

    def put(self, request: Request, reply: RawReply, scope: str = "") -> None:
        """Store ``reply`` for ``request`` sent to ``scope`` (a later one overwrites it)."""
        text = json.dumps(reply.to_dict(), ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO replies (key, model, reply, created) VALUES (?, ?, ?, ?)",
                (_key(request, scope), request.model, text, time.time()),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def clear(self) -> None:
        """Delete every stored reply."""
        with self._lock:
            self._db.execute("DELETE FROM replies")
            self._db.commit()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"
