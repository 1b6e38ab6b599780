"""Trainer tests skip fsync (a slow disk made it most of their time): flushing already survives a
killed process, which is what they simulate. The kill -9 tests run the command line in child
processes with the default (fsync on)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEGRAPH_FSYNC", "0")
