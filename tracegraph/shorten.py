"""How long values are cut for display: one function, one marker, used by every view."""

from __future__ import annotations

from typing import Any

__all__ = ["short_repr"]


def short_repr(value: Any, max_len: int) -> str:
    """``repr(value)`` cut to ``max_len`` characters plus a marker saying how much was cut.

    >>> short_repr("x" * 30, 10)
    "'xxxxxxxxx...<+22 chars>"
    """
    try:
        text = repr(value)
    except Exception as exc:  # a user's broken __repr__ must not break the view
        text = f"<{type(value).__name__}: repr raised {type(exc).__name__}>"
    if len(text) <= max_len:
        return text
    return f"{text[:max_len]}...<+{len(text) - max_len} chars>"
