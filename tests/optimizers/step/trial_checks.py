"""User checks for trial runs: module-level functions, so they pickle into the child process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def adds_one(fn: Callable[..., Any]) -> None:
    """Unit tests for a function that should add one."""
    assert fn(1) == 2, f"f(1) should be 2, got {fn(1)!r}"
    assert fn(-1) == 0


def says_no(fn: Callable[..., Any]) -> str:
    return "never good enough"
