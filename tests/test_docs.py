"""Every ```python block of the user docs runs, offline.

The blocks are taken from README.md and the doc pages in ``PAGES``; each is written to its
own file and run as a script in a temporary directory (a file, not ``exec`` of a string, so
``@tg.trainable`` can read the function's source). A block that needs a real model says so
with a ``# needs-model`` comment and is skipped; every other block must use
``ScriptedClient``, a cassette or no model at all. A block that needs an optional extra says
``# needs-extra: MODULE`` and is skipped when that module cannot be imported. A block that
draws a picture is skipped when graphviz's ``dot`` is missing. A block that raises fails its test.
"""

from __future__ import annotations

import importlib.util
import re
import runpy
import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    "README.md",
    "docs/concepts.md",
    "docs/feedback.md",
    "docs/optimizers.md",
    "docs/budgets_and_caching.md",
    "docs/integrations.md",
]
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
NEEDS_MODEL = "# needs-model"
NEEDS_EXTRA = re.compile(r"# needs-extra: ([\w.]+)")


def blocks(page: str) -> list[tuple[int, str]]:
    """The python blocks of one page with the line each starts on."""
    text = (ROOT / page).read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


def cases() -> list[Any]:
    """One pytest param per block, skipped when it needs a real model."""
    found: list[Any] = []
    for page in PAGES:
        if not (ROOT / page).exists():
            continue
        for line, code in blocks(page):
            marks = []
            extra = NEEDS_EXTRA.search(code)
            if extra and importlib.util.find_spec(extra.group(1)) is None:
                marks.append(pytest.mark.skip(reason=f"needs {extra.group(1)} (an extra)"))
            elif NEEDS_MODEL in code:
                marks.append(pytest.mark.skip(reason="needs a real model"))
            elif ".render(" in code and shutil.which("dot") is None:
                marks.append(pytest.mark.skip(reason="graphviz's dot is missing: `make dot`"))
            found.append(pytest.param(page, line, code, id=f"{page}:{line}", marks=marks))
    return found


def test_the_pages_have_blocks() -> None:
    """The extraction finds blocks on every page (a broken fence pattern would find none)."""
    for page in PAGES:
        assert blocks(page), f"{page} has no ```python block (or the page is missing)"


def test_blocks_are_found_exactly() -> None:
    """The fence pattern takes the code between the fences and nothing else."""
    text = "x\n```python\nprint(1)\n```\n```text\nno\n```\n```python\na = 2\n```\n"
    assert [m.group(1) for m in FENCE.finditer(text)] == ["print(1)\n", "a = 2\n"]


@pytest.mark.parametrize(("page", "line", "code"), cases())
def test_block_runs(
    page: str, line: int, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The block runs as a script without raising."""
    monkeypatch.chdir(tmp_path)  # blocks that write files write them here
    script = tmp_path / f"{Path(page).stem}_line{line}.py"
    script.write_text(code, encoding="utf-8")
    runpy.run_path(str(script), run_name="__main__")


def exception_classes() -> list[type[BaseException]]:
    """Every exception class defined in tracegraph/ and optimizers/ (private ones left out)."""
    import importlib
    import inspect
    import pkgutil

    import optimizers
    import tracegraph

    found: dict[type[BaseException], None] = {}
    for package in (tracegraph, optimizers):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            try:
                module = importlib.import_module(info.name)
            except ImportError:  # an optional extra (ray) that is not installed
                continue
            for name, obj in vars(module).items():
                if (
                    inspect.isclass(obj)
                    and issubclass(obj, tracegraph.TracegraphError)
                    and obj.__module__ == module.__name__
                    and not name.startswith("_")
                ):
                    found[obj] = None
    return list(found)


def test_error_catalogue_is_complete() -> None:
    """docs/errors.md has a heading for every exception class the code defines."""
    text = (ROOT / "docs/errors.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^### (\w+)$", text, re.MULTILINE))
    classes = {cls.__name__ for cls in exception_classes()}
    assert {"TracegraphError", "BudgetExceeded", "RunDirError"} <= classes  # the walk works
    assert sorted(classes - headings) == [], "add these to docs/errors.md"
    assert sorted(headings - classes) == [], "docs/errors.md names classes the code lacks"
