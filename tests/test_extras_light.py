"""The optional integrations stay optional: importing the core loads none of their packages."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("mlflow", "sqlalchemy", "opentelemetry", "agents", "langgraph", "langchain_core")
CORE = (
    "tracegraph",
    "tracegraph.otel",
    "optimizers",
    "optimizers.callbacks",
    "optimizers.callbacks.mlflow",
    "optimizers.callbacks.otel",
    "optimizers.adapters",
)


def loaded(modules: tuple[str, ...]) -> list[str]:
    """The HEAVY packages in sys.modules of a fresh interpreter after importing ``modules``."""
    code = (
        f"import importlib, json, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
        f"print(json.dumps(sorted({{n.split('.')[0] for n in sys.modules}} & set({HEAVY!r}))))"
    )
    out = subprocess.check_output([sys.executable, "-c", code], text=True, cwd=ROOT)
    return list(json.loads(out))


def test_the_core_imports_no_extra() -> None:
    assert loaded(CORE) == []


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="needs [mlflow]")
def test_the_check_sees_an_extra_when_one_is_imported() -> None:
    assert "mlflow" in loaded((*CORE, "mlflow"))
