"""Length-prefixed messages over two private pipes (stdlib only; both sides of the sandbox).

A message is 4 bytes of big-endian length and that many bytes. The child reads requests from
one descriptor and writes replies to the other; neither is its stdin, stdout or stderr, so what
the code prints can never pass for a reply. A reply from a process that ran untrusted code is
read with :func:`loads_plain`, which builds plain data only.
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
import struct
from typing import Any

__all__ = ["Channel", "PlainUnpickler", "frame", "loads_plain"]

HEADER = struct.Struct(">I")
# Bound once: code in the child may replace os.read/os.write; the channel keeps the real ones.
_read, _write = os.read, os.write


def frame(data: bytes) -> bytes:
    """``data`` with its length in front."""
    return HEADER.pack(memoryview(data).nbytes) + data  # not len(): the code may replace it


class Channel:
    """The child's end: ``recv()`` a request (None at end of input), ``send()`` a reply."""

    def __init__(self, input_fd: int, report_fd: int) -> None:
        self.input_fd, self.report_fd = input_fd, report_fd
        for fd in (input_fd, report_fd):
            os.set_inheritable(fd, False)  # programs the code starts do not get them

    def _read(self, n: int) -> bytes | None:
        parts, left = [], n
        while left:
            chunk = _read(self.input_fd, 1 << 20 if left > 1 << 20 else left)
            if not chunk:
                return None
            parts.append(chunk)
            left -= chunk.__len__()  # not len(): the code may have replaced it
        return b"".join(parts)

    def recv(self) -> bytes | None:
        head = self._read(HEADER.size)
        if head is None:
            return None
        (size,) = HEADER.unpack(head)
        return self._read(size) if size else b""

    def send(self, data: bytes) -> None:
        view = memoryview(frame(data))
        while view:
            view = view[_write(self.report_fd, view) :]


_ALLOWED = {("builtins", n) for n in ("complex", "set", "frozenset", "bytearray")}


class PlainUnpickler(pickle.Unpickler):
    """Unpickles plain data only: any class or function named in the data is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return getattr(builtins, name)
        raise pickle.UnpicklingError(f"refused {module}.{name}: only plain data is accepted")


def loads_plain(data: bytes) -> Any:
    """``pickle.loads`` restricted to plain data (None, bool, numbers, str, bytes, list, tuple,
    dict, set), for replies from a process that ran untrusted code.

    >>> loads_plain(pickle.dumps({"a": [1, 2.5, "x", {3}]}))
    {'a': [1, 2.5, 'x', {3}]}
    """
    return PlainUnpickler(io.BytesIO(data)).load()
