"""A persistent reply cache in SQLite, keyed by a hash of the full request.

The key covers the model name, every message, the response format (so the schema) and every
option (temperature, seed, max_tokens...), never the endpoint's address or key: a local server
that restarts on another port still hits. Replies at a temperature above zero are cached too, so
a repeated run is reproducible; ask for fresh samples with a distinct ``seed`` or ``cache=False``.

WAL journalling lets one writer and many readers work at once, and a busy timeout makes threads
and processes that write together wait for each other instead of failing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from optimizers.errors import ClientConfigError
from optimizers.llm.types import RawReply, Request

__all__ = ["ResponseCache", "default_cache_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    reply TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def default_cache_path() -> Path:
    """``$TRACEGRAPH_CACHE_DIR/llm.sqlite``, else under ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    root = os.environ.get("TRACEGRAPH_CACHE_DIR")
    if root:
        return Path(root) / "llm.sqlite"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "tracegraph" / "llm.sqlite"


class ResponseCache:
    """Replies on disk, addressed by :meth:`Request.key`.

    >>> import tempfile, pathlib
    >>> cache = ResponseCache(pathlib.Path(tempfile.mkdtemp()) / "c.sqlite")
    >>> req = Request("m", ({"role": "user", "content": "hi"},))
    >>> cache.get(req) is None
    True
    >>> cache.put(req, RawReply("hello", "m"))
    >>> cache.get(req).text, cache.get(req).cached
    ('hello', True)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One connection per instance, shared by threads under a lock; other processes
            # coordinate through SQLite's own locking (busy timeout below).
            self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            self._db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise ClientConfigError(
                f"cannot open the reply cache at {self.path}: {exc}",
                fix="pass cache=<a writable path>, or cache=None to turn the cache off",
            ) from exc
        self._lock = threading.Lock()

    def get(self, request: Request) -> RawReply | None:
        """The stored reply for ``request`` (marked ``cached``), or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT reply FROM replies WHERE key = ?", (request.key(),)
            ).fetchone()
        if row is None:
            return None
        return RawReply.from_dict(json.loads(row[0]), cached=True)

    def put(self, request: Request, reply: RawReply) -> None:
        """Store ``reply`` for ``request`` (a later identical request overwrites it)."""
        text = json.dumps(reply.to_dict(), ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO replies (key, model, reply, created) VALUES (?, ?, ?, ?)",
                (request.key(), request.model, text, time.time()),
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
