"""The public surface of the client layer, compared with a golden file.

A change to a public name or signature shows up here as a diff. When the change is meant,
regenerate with ``UPDATE_GOLDEN=1 pytest tests/optimizers/llm/test_api_golden.py`` and commit
``tests/golden/llm_api.txt`` with the change.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from pathlib import Path

import optimizers.llm as llm
from optimizers.llm.client_base import BaseClient
from optimizers.llm.openai_client import OpenAIClient

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "llm_api.txt"


def surface() -> str:
    """One line per public name, signature or field."""
    lines = [f"optimizers.llm.__all__ = {sorted(llm.__all__)}"]
    callables = {
        "OpenAIClient": OpenAIClient,
        "ScriptedClient": llm.ScriptedClient,
        "Budget": llm.Budget,
        "Cassette": llm.Cassette,
        "FakeOpenAIServer": llm.FakeOpenAIServer,
        "Prices": llm.Prices,
        "ResponseCache": llm.ResponseCache,
        "default_client": llm.default_client,
        "local_model": llm.local_model,
    }
    for name, obj in callables.items():
        lines.append(f"{name}{inspect.signature(obj)}")
    for method in ("complete", "acomplete", "no_cache"):
        lines.append(f"client.{method}{inspect.signature(getattr(BaseClient, method))}")
    for cls in (llm.Usage, llm.Reply):
        names = ", ".join(f"{f.name}: {f.type}" for f in dataclasses.fields(cls))
        lines.append(f"{cls.__name__}({names})")
    return "\n".join(lines) + "\n"


def test_public_surface_matches_the_golden_file() -> None:
    current = surface()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(current, encoding="utf-8")
    assert current == GOLDEN.read_text(encoding="utf-8")
