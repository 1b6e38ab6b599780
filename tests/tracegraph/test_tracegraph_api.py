"""The public surface of ``tracegraph``, compared with a golden file.

A change to a public name or signature shows up here as a diff. When the change is meant,
regenerate with ``UPDATE_GOLDEN=1 pytest tests/tracegraph/test_tracegraph_api.py`` and commit
``tests/golden/tracegraph_api.txt`` with the change.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import tracegraph as tg

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "tracegraph_api.txt"


def surface() -> str:
    """One line per public name: signatures of callables, members of classes and enums."""
    lines = [f"tracegraph.__all__ = {sorted(tg.__all__)}"]
    for name in sorted(tg.__all__):
        obj = getattr(tg, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            lines.append(f"{name}({', '.join(b.__name__ for b in obj.__bases__)})")
        elif name == "NodeKind":
            lines.append(f"NodeKind: {', '.join(k.name for k in tg.NodeKind)}")
        elif name in ("Node", "Module"):
            public = sorted(m for m in vars(obj) if not m.startswith("_"))
            lines.append(f"{name}: {', '.join(public)}")
        elif callable(obj):
            lines.append(f"{name}{inspect.signature(obj)}")
    return "\n".join(lines) + "\n"


def test_public_surface_matches_the_golden_file() -> None:
    current = surface()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(current, encoding="utf-8")
    assert current == GOLDEN.read_text(encoding="utf-8")


def test_import_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tracegraph; "
        "print(sorted(m for m in ('networkx', 'graphviz', 'openai', 'pydantic', 'numpy') "
        "if m in sys.modules))"
    )
    out = subprocess.check_output([sys.executable, "-c", code], text=True, cwd=GOLDEN.parents[2])
    assert out.strip() == "[]"
