"""JSON parameters hold JSON data (issue 10, bug 7f): a value nested too deep or a set is a clear
ParameterError or PersistenceError, never a bare RecursionError or a set saved as its repr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tracegraph as tg


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def test_a_value_nested_500_deep_is_a_parameter_error() -> None:
    with pytest.raises(tg.ParameterError, match="deeper than 100 levels"):
        tg.param(_nested(500), name="deep")
    p = tg.param({"a": []}, name="p")
    with pytest.raises(tg.ParameterError, match="deeper than 100 levels"):
        p.set_value({"a": _nested(500)})


def test_a_set_inside_a_json_parameter_is_refused_with_the_fix() -> None:
    with pytest.raises(tg.ParameterError, match=r"value\['a'\] is a set.*sorted"):
        tg.param({"a": {"b", "a"}}, name="tags")
    p = tg.param({"a": ["x"]}, name="tags2")
    with pytest.raises(tg.ParameterError, match="is a set"):
        p.set_value({"a": {"x"}})


def test_a_module_file_nested_too_deep_is_a_persistence_error(tmp_path: Path) -> None:
    class Holder(tg.Module):
        def __init__(self) -> None:
            self.data = tg.param({"a": []}, name="data")

    path = tmp_path / "deep.json"
    Holder().save(path)
    text = path.read_text().replace("[]", "[" * 100_000 + "]" * 100_000)
    path.write_text(text)
    with pytest.raises(tg.PersistenceError, match=r"deeper|nests"):
        Holder().load(path)
