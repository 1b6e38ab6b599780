"""How long text is cut for display: one function, one marker, used by every view and prompt.

The marker is ``...<+N chars>``: N characters were left out where it stands. Views cut at the
end; prompts keep the head and the tail (``keep_tail=True``), where a value's end often matters
(a reply's final answer, a traceback's last line).
"""

from __future__ import annotations

from typing import Any

__all__ = ["marker", "safe_repr", "short_repr", "short_text", "shorten"]


def marker(left_out: int) -> str:
    """The one marker of cut text: ``...<+N chars>``."""
    return f"...<+{left_out} chars>"


def shorten(text: str, limit: int, *, keep_tail: bool = False) -> str:
    """``text`` unchanged when it fits in ``limit`` characters, else cut with the marker.

    At the end, ``limit`` characters are kept before the marker; with ``keep_tail`` the head and
    about a sixth of ``limit`` from the end are kept around it, at most ``limit`` in all.

    >>> shorten("x" * 30, 10)
    'xxxxxxxxxx...<+20 chars>'
    >>> shorten("abcdefghijklmnopqrstuvwxyz" * 2, 30, keep_tail=True)
    'abcdefghijk...<+36 chars>vwxyz'
    """
    if len(text) <= limit:
        return text
    if not keep_tail:
        return text[:limit] + marker(len(text) - limit)
    tail = max(limit // 6, 1)
    head = max(limit - tail - len(marker(len(text))), 1)
    return text[:head] + marker(len(text) - head - tail) + text[-tail:]


def safe_repr(value: Any) -> str:
    """``repr(value)``, or a stand-in naming the type when the value's ``__repr__`` raises."""
    try:
        return repr(value)
    except Exception as exc:  # a user's broken __repr__ must not break a view or a step
        return f"<{type(value).__name__}: repr raised {type(exc).__name__}>"


def short_repr(value: Any, max_len: int, *, keep_tail: bool = False) -> str:
    """``repr(value)`` cut to ``max_len`` characters plus the marker saying how much was cut.

    >>> short_repr("x" * 30, 10)
    "'xxxxxxxxx...<+22 chars>"
    """
    return shorten(safe_repr(value), max_len, keep_tail=keep_tail)


def short_text(value: Any, max_len: int) -> str:
    """Like :func:`short_repr`, but text is shown as it is (no quotes): for messages to people.

    >>> short_text("a long sentence", 6)
    'a long...<+9 chars>'
    """
    return shorten(value if isinstance(value, str) else safe_repr(value), max_len)
