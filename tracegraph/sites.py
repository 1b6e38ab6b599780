"""Where the user made a node, and what went wrong when an op raised.

``user_location`` walks frames with ``sys._getframe`` (no ``inspect.stack``: it reads every
source file on the stack) and skips library frames: those of ``tracegraph`` and of every
package that declared itself a library with :func:`add_library_root` (``optimizers`` does, in
its ``__init__``), so a node points at the user's line even when it was made deep inside them.
Whether a file is internal, and the location of a (code, line) pair, are memoised: both are
pure functions of their key (the memos are cleared when a library root is added).
"""

from __future__ import annotations

import inspect
import linecache
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Any

from tracegraph.errors import OpError
from tracegraph.node import UNKNOWN_LOCATION, Node, NodeKind, SourceLocation

__all__ = [
    "ExceptionInfo",
    "add_library_root",
    "constant",
    "exception_node",
    "is_internal",
    "user_location",
]

_HERE = os.path.dirname(os.path.abspath(__file__))
_INTERNAL_DIRS: tuple[str, ...] = (_HERE + os.sep,)
_MEMO_LIMIT = 4096
_internal_memo: dict[str, bool] = {}
_location_memo: dict[int, tuple[CodeType, dict[int, SourceLocation]]] = {}

_SCALARS = frozenset({int, float, complex, str, bytes, bool, type(None)})
_constant_memo: dict[int, tuple[SourceLocation, Any, Node]] = {}


def constant(value: Any, location: SourceLocation, slot: int = -1) -> Node:
    """A CONSTANT node for a plain value that entered an op (the ``1`` in ``y + 1``).

    With ``slot`` (the operand's position, 0 to 15), an immutable scalar equal to the one last
    seen in that slot at that source location reuses that constant node: a constant is a pure
    function of where it was written and its value, and a loop of ``y = y + 1`` then builds one
    node per step instead of two. The memo is bounded and holds only such leaves (short ones).
    """
    if slot < 0 or type(value) not in _SCALARS or (type(value) is str and len(value) > 200):
        return Node(value, NodeKind.CONSTANT, "const", None, (), (), location)
    key = id(location) + slot  # locations are > 16 bytes apart; the entry is checked anyway
    entry = _constant_memo.get(key)
    if (
        entry is not None
        and entry[0] is location
        and type(entry[1]) is type(value)
        and entry[1] == value
    ):
        return entry[2]
    made = Node(value, NodeKind.CONSTANT, "const", None, (), (), location)
    if len(_constant_memo) > _MEMO_LIMIT:
        _constant_memo.clear()
    _constant_memo[key] = (location, value, made)
    return made


def add_library_root(package_file: str) -> None:
    """Treat the folder of ``package_file`` (a package's ``__init__.py``) as library code.

    Nodes made from inside it point at the first frame outside every library root. A package
    built on tracegraph calls this once at import: ``add_library_root(__file__)``.
    """
    global _INTERNAL_DIRS
    root = os.path.dirname(os.path.abspath(package_file)) + os.sep
    if root not in _INTERNAL_DIRS:
        _INTERNAL_DIRS = (*_INTERNAL_DIRS, root)
        _internal_memo.clear()
        _location_memo.clear()


def is_internal(filename: str) -> bool:
    """True for files of tracegraph and of the library roots added with add_library_root."""
    known = _internal_memo.get(filename)
    if known is None:
        if len(_internal_memo) > _MEMO_LIMIT:
            _internal_memo.clear()
        known = os.path.abspath(filename).startswith(_INTERNAL_DIRS)
        _internal_memo[filename] = known
    return known


def user_location(depth: int = 1) -> SourceLocation:
    """The innermost frame on the stack that is the user's code (not tracegraph's).

    ``depth`` frames are skipped unseen: callers on the hot path know how deep they are.
    """
    try:
        frame = sys._getframe(depth)
    except ValueError:  # called from near the top of the stack: look from our caller instead
        frame = sys._getframe(1)
    memo = _internal_memo
    while frame is not None:
        internal = memo.get(frame.f_code.co_filename)
        if internal is None:
            internal = is_internal(frame.f_code.co_filename)
        if not internal:
            break
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return UNKNOWN_LOCATION
    # Keyed by the code object's id and the instruction offset: hashing a code object and
    # computing f_lineno both cost far more than the rest of a traced operator.
    code = frame.f_code
    entry = _location_memo.get(id(code))
    if entry is not None and entry[0] is code:
        loc = entry[1].get(frame.f_lasti)
        if loc is not None:
            return loc
    return _make_location(frame)


def _make_location(frame: FrameType) -> SourceLocation:
    code = frame.f_code
    entry = _location_memo.get(id(code))
    if entry is None or entry[0] is not code:
        if len(_location_memo) > _MEMO_LIMIT:
            _location_memo.clear()
        entry = _location_memo[id(code)] = (code, {})
    line = frame.f_lineno
    text = linecache.getline(code.co_filename, line).strip()
    function = getattr(code, "co_qualname", code.co_name)
    loc = entry[1][frame.f_lasti] = SourceLocation(code.co_filename, line, function, text)
    return loc


@dataclass(frozen=True)
class ExceptionInfo:
    """What an op raised: the value of an EXCEPTION node (also in its ``meta["exception"]``)."""

    type: str
    message: str
    file: str
    line: int
    source: str  # the function's source with the failing line marked ">>"

    def __str__(self) -> str:
        return f"{self.type}: {self.message} ({self.file}:{self.line})"


def _pick_frame(
    exc: BaseException, code: CodeType | None, file: str | None
) -> tuple[str, int, CodeType] | None:
    """The failing line: in the op's own code if it is on the traceback, else the user's."""
    frames = list(traceback.walk_tb(exc.__traceback__))
    tests: list[Callable[[CodeType], bool]] = [
        lambda c: c.co_filename == file,
        lambda c: c is code,
        lambda c: not is_internal(c.co_filename),
    ]
    for test in tests:
        for frame, line in reversed(frames):
            if test(frame.f_code):
                return frame.f_code.co_filename, line, frame.f_code
    return None


def _marked(lines: list[str], first: int, line: int) -> str:
    """Source lines numbered from ``first``, with ``line`` marked."""
    out = []
    for i, text in enumerate(lines, start=first):
        mark = ">>" if i == line else "  "
        out.append(f"{mark} {i:>4} | {text.rstrip()}")
    return "\n".join(out)


def _source_of(file: str, line: int, code: CodeType, source: tuple[str, int, str] | None) -> str:
    if source is not None and source[2] == file:
        return _marked(source[0].splitlines(), source[1], line)
    try:
        lines, first = inspect.getsourcelines(code)
    except (OSError, TypeError):
        return _marked([linecache.getline(file, line)], line, line)
    return _marked(lines, max(first, 1), line)


def exception_info(
    exc: BaseException,
    where: SourceLocation,
    code: CodeType | None = None,
    source: tuple[str, int, str] | None = None,
) -> ExceptionInfo:
    """Describe ``exc``: its type, message, and the failing line in the user's code."""
    file = None if source is None else source[2]
    if isinstance(exc, SyntaxError) and exc.lineno is not None and exc.filename == file:
        assert source is not None
        text = _marked(source[0].splitlines(), source[1], exc.lineno)
        return ExceptionInfo("SyntaxError", str(exc.msg), source[2], exc.lineno, text)
    picked = _pick_frame(exc, code, file)
    if picked is None:
        return ExceptionInfo(
            type(exc).__name__,
            str(exc),
            where.file,
            where.line,
            _marked([where.code], where.line, where.line),
        )
    text = _source_of(picked[0], picked[1], picked[2], source)
    return ExceptionInfo(type(exc).__name__, str(exc), picked[0], picked[1], text)


def exception_node(
    exc: BaseException,
    *,
    op_name: str,
    name: str,
    parents: tuple[Node, ...],
    labels: tuple[str, ...],
    where: SourceLocation,
    code: CodeType | None = None,
    source: tuple[str, int, str] | None = None,
    meta: dict[str, Any] | None = None,
    doc: str = "",
    code_param: Node | None = None,
) -> OpError:
    """Record an EXCEPTION node for ``exc`` and return the OpError that carries it."""
    info = exception_info(exc, where, code, source)
    meta = dict(meta or {})
    meta["exception"] = info
    err_node = Node(
        info,
        NodeKind.EXCEPTION,
        name,
        op_name,
        parents,
        labels,
        where,
        meta,
        doc=doc,
        code_param=code_param,
    )
    shown = info.source if "\n" not in info.source else _failing_lines(info.source)
    return OpError(
        f"op {op_name!r} raised {info.type}: {info.message}\n  at {info.file}:{info.line}\n"
        f"  {shown}",
        err_node,
        fix="fix the failing line above, or give feedback to the exception node: "
        "err.node.backward('...')",
    )


def _failing_lines(source: str) -> str:
    return "\n  ".join(line for line in source.splitlines() if line.startswith(">>"))
