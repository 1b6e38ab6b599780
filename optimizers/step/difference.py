"""What differs between a result and the expected one, said in words a small model can use.

Feedback from unit tests often reads "f(x) returned {1: ['b', 'a']}, expected {1: ['a', 'b']}".
A strong model sees at once that the keys are right and the list is in the wrong order; the
local 1.5B model, shown the same line for twelve steps, grouped the keys and never sorted them.
Computing the difference is easy; seeing it is the hard question, so it is computed here and
shown next to the feedback: "at key 1: the same items in another order (expected: sorted)".

:func:`expected_in` reads the expected value from the feedback ("expected <Python literal>",
"assert <got> == <expected>"); :func:`difference` compares two values (strings by their edits,
sequences by order, missing and extra items, mappings key by key, numbers by size) and returns
None when there is nothing to say.

>>> difference({1: ['b', 'a'], 2: ['c']}, {1: ['a', 'b'], 2: ['c']})
'at key 1: the same items in another order (expected: sorted)'
>>> difference("hello--world", "hello-world")
"extra '-' at character 6"
>>> expected_in("f('a') returned 'A', expected 'a'")
(True, 'a')

:func:`expected_for` reads it for one result: when the result is a dict and the feedback is
about one of its fields (it names the key, quotes the field's value and the value expected),
the expected result is the dict with that field replaced:

>>> expected_for({"name": "Jo", "phone": "030 12"},
...     "phone '030 12' is not digits only (expected '03012')")
(True, {'name': 'Jo', 'phone': '03012'})
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from collections import Counter
from typing import Any

__all__ = ["difference", "expected_for", "expected_in"]

MAX_PARTS = 3  # differences said at most, per level
MAX_CHARS = 300
_SHOW = 40  # characters of a value shown in a difference

_EXPECTED = re.compile(r"\bexpected:?\s+|==\s*")


def expected_in(feedback: str) -> tuple[bool, Any]:
    """``(True, value)`` for the Python literal after the last "expected" (or "==") in the
    feedback, ``(False, None)`` when there is none that parses."""
    text = feedback[:4000]
    for match in reversed(list(_EXPECTED.finditer(text))):
        rest = text[match.end() :].strip()
        for end in _ends(rest):
            try:
                return True, ast.literal_eval(rest[:end])
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
    return False, None


def expected_for(result: Any, feedback: str) -> tuple[bool, Any]:
    """:func:`expected_in` for one call's ``result``; for a dict result, the feedback on one
    field ("date 'March 3' does not have the format YYYY-MM-DD (expected '2024-03-03')") is
    read as the dict with that field expected: the field's key named as a word, its value
    quoted as a literal, the expected value a literal of another value. Other fields may be
    wrong too (a checker says the first problem only): the expectation is what the feedback
    states, no more."""
    found, want = expected_in(feedback)
    if not isinstance(result, dict) or (found and isinstance(want, dict)):
        return found, want
    field = _field(result, feedback[:4000])
    return (True, field) if field is not None else (found, want)


def _field(result: dict[Any, Any], text: str) -> dict[Any, Any] | None:
    """The result with the one field the feedback names replaced by the value it expects."""
    match = list(_EXPECTED.finditer(text))
    if not match:
        return None
    head, rest = text[: match[-1].start()], text[match[-1].end() :].strip()
    ends = [m.start() for m in re.finditer(r"\)|[,;.]\s|\n", rest)][:12]
    want, found = None, False
    for end in [len(rest.rstrip(" .;")), *ends]:
        try:
            want, found = ast.literal_eval(rest[:end]), True
            break
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    if not found or isinstance(want, dict) or repr(result) in head:
        return None  # the whole result printed: the expected value is the whole result's
    keys = [
        k
        for k, v in result.items()
        if isinstance(k, str)
        and re.search(rf"(?<!\w){re.escape(k)}(?!\w)", head)
        and len(repr(v)) >= 3
        and repr(v) in head
        and not _same(v, want)
    ]
    return {**result, keys[0]: want} if len(keys) == 1 else None


def _ends(rest: str) -> list[int]:
    """Where the literal may end: the whole rest, then before each ", " / "; " / ". " / line."""
    cuts = [m.start() for m in re.finditer(r"[,;.]\s|\n|\s\(", rest)]
    return [len(rest.rstrip(" .;")), *reversed(cuts)][:12]


def difference(got: Any, want: Any) -> str | None:
    """What differs between ``got`` and ``want`` in a sentence, or None when they are equal or
    the difference is nothing more than the two values."""
    said = _diff(got, want, 0)
    return None if said is None else said[:MAX_CHARS]


def _diff(got: Any, want: Any, depth: int) -> str | None:
    if _same(got, want):
        return None
    if depth > 3:
        return "differs"
    if _number(got) and _number(want):
        return _numbers(got, want)
    if isinstance(got, str) and isinstance(want, str):
        return _strings(got, want)
    if isinstance(got, dict) and isinstance(want, dict):
        return _mappings(got, want, depth)
    if isinstance(got, (list, tuple)) and isinstance(want, (list, tuple)):
        return _sequences(list(got), list(want), depth)
    if isinstance(got, (set, frozenset)) and isinstance(want, (set, frozenset)):
        return _items(list(got), list(want))
    if type(got) is type(want):
        return f"{_show(got)} where {_show(want)} is expected"
    return f"a {type(got).__name__} ({_show(got)}) where a {type(want).__name__} is expected"


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and (type(a) is type(b) or (_number(a) and _number(b)))
    except Exception:  # a value whose == raises: not the same
        return False


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= _SHOW else text[: _SHOW - 3] + "..."


def _numbers(got: float, want: float) -> str:
    if not (math.isfinite(got) and math.isfinite(want)):
        return f"{got!r} where {want!r} is expected"
    gap = want - got
    way = "too small" if gap > 0 else "too large"
    return f"{_show(got)} is {way} by {abs(gap):g}"


def _strings(got: str, want: str) -> str:
    if got.strip() == want.strip():
        return "the same text with other spaces around it"
    if got.lower() == want.lower():
        return "the same letters in another case"
    if len(got) * len(want) > 4_000_000:  # difflib is quadratic: long texts get their sizes
        start = next(
            (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
            min(len(got), len(want)),
        )
        where = f"; the first difference at character {start}" if start < len(got) else ""
        return f"{len(got)} characters where {len(want)} expected{where}"
    ops = [o for o in difflib.SequenceMatcher(None, got, want, autojunk=False).get_opcodes()]
    edits = [o for o in ops if o[0] != "equal"]
    if len(edits) > MAX_PARTS:
        return f"{len(edits)} places differ; the first: {_edit(got, want, edits[0])}"
    return "; ".join(_edit(got, want, e) for e in edits)


def _edit(got: str, want: str, op: tuple[str, int, int, int, int]) -> str:
    tag, i1, i2, j1, j2 = op
    if tag == "delete":
        return f"extra {_show(got[i1:i2])} at character {i1}"
    if tag == "insert":
        return f"missing {_show(want[j1:j2])} at character {i1}"
    return f"{_show(got[i1:i2])} where {_show(want[j1:j2])} is expected (character {i1})"


def _sequences(got: list[Any], want: list[Any], depth: int) -> str | None:
    if _counts(got) == _counts(want):
        order = ""
        if _sorted(want):
            order = " (expected: sorted)"
        elif want == got[::-1]:
            order = " (expected: reversed)"
        return f"the same items in another order{order}"
    if len(got) == len(want):
        wrong = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if not _same(g, w)]
        if len(wrong) <= MAX_PARTS:
            return "; ".join(f"item {i}: {_diff(got[i], want[i], depth + 1)}" for i in wrong)
    said = _items(got, want)
    size = f"{len(got)} item{'s' * (len(got) != 1)} where {len(want)} expected"
    return size if said is None else f"{size}: {said}"


def _items(got: list[Any], want: list[Any]) -> str | None:
    have, need = _counts(got), _counts(want)
    missing = [k for k in need if need[k] > have.get(k, 0)]
    extra = [k for k in have if have[k] > need.get(k, 0)]
    parts = []
    if missing:
        parts.append("missing " + ", ".join(m[:_SHOW] for m in missing[:MAX_PARTS]))
    if extra:
        parts.append("extra " + ", ".join(e[:_SHOW] for e in extra[:MAX_PARTS]))
    return "; ".join(parts) or None


def _counts(items: list[Any]) -> Counter[str]:
    return Counter(repr(i) for i in items)


def _sorted(items: list[Any]) -> bool:
    try:
        return len(items) > 1 and items == sorted(items)
    except TypeError:
        return False


def _mappings(got: dict[Any, Any], want: dict[Any, Any], depth: int) -> str | None:
    parts: list[str] = []
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    if missing:
        parts.append("missing keys " + ", ".join(_show(k) for k in missing[:MAX_PARTS]))
    if extra:
        parts.append("extra keys " + ", ".join(_show(k) for k in extra[:MAX_PARTS]))
    wrong = [k for k in want if k in got and not _same(got[k], want[k])]
    for k in wrong[:MAX_PARTS]:
        parts.append(f"at key {_show(k)}: {_diff(got[k], want[k], depth + 1)}")
    if len(wrong) > MAX_PARTS:
        parts.append(f"{len(wrong) - MAX_PARTS} more keys differ")
    return "; ".join(parts) or None
