"""Family (c): repair a function from its failing unit tests (three functions of different kinds).

Seed ``i`` repairs ``specs.CODE_ORDER[i % 3]``: string processing (``slugify``), an arithmetic
edge case (``is_leap_year``) and dict/list logic (``invert_mapping``). The functions below are
the buggy versions; every task resets the code parameter to the bug first. ``code_more`` repairs
three functions written after the repair strategy was built (``parse_duration``, ``dedupe``,
``word_count``): the same family, tasks the strategy was not tuned on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tracegraph as tg
from benchmarks.quality import specs
from benchmarks.quality.task import Episode, Family, Task
from optimizers.llm.types import LLMClient


@tg.trainable
def slugify(title: str) -> str:
    """Lowercase the words of a title and join them with single hyphens; drop punctuation."""
    return title.lower().replace(" ", "-")


@tg.trainable
def is_leap_year(year: int) -> bool:
    """Whether the year is a leap year in the Gregorian calendar."""
    return year % 4 == 0


@tg.trainable
def invert_mapping(mapping: dict[str, int]) -> dict[int, list[str]]:
    """Map each value to the sorted list of the keys that have it."""
    return {value: [key] for key, value in mapping.items()}


@tg.trainable
def parse_duration(text: str) -> int:
    """Minutes in a duration written like '1h30m', '45m' or '2h'."""
    return int(text.rstrip("m").split("h")[-1] or 0)


@tg.trainable
def dedupe(items: list[str]) -> list[str]:
    """The items without repeats, each kept at its first position."""
    return sorted(set(items))


@tg.trainable
def word_count(text: str) -> dict[str, int]:
    """How often each word occurs, ignoring case and punctuation."""
    counts: dict[str, int] = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts


FUNCTIONS: dict[str, tuple[Any, str]] = {
    "slugify": (slugify, specs.SLUGIFY_BUGGY),
    "is_leap_year": (is_leap_year, specs.LEAP_BUGGY),
    "invert_mapping": (invert_mapping, specs.INVERT_BUGGY),
    "parse_duration": (parse_duration, specs.DURATION_BUGGY),
    "dedupe": (dedupe, specs.DEDUPE_BUGGY),
    "word_count": (word_count, specs.COUNT_BUGGY),
}


def compile_source(
    name: str, source: str, module_globals: dict[str, Any] | None = None
) -> Callable[..., Any]:
    """A candidate's function, compiled in a copy of its module's globals (for the searches)."""
    namespace: dict[str, Any] = dict(globals() if module_globals is None else module_globals)
    namespace.pop(name, None)  # a candidate that does not define it must not find the traced one
    exec(compile(source, f"<candidate {name}>", "exec"), namespace)
    fn: Callable[..., Any] = namespace[name]
    return fn


def passed_fraction(
    name: str, fn: Callable[..., Any], cases: list[tuple[tuple[Any, ...], Any]] | None = None
) -> float:
    """The share of the unit tests (``cases``, else ``name``'s in ``specs``) ``fn`` passes,
    untraced."""
    cases = specs.CODE_CASES[name] if cases is None else cases
    passed = 0
    for args, want in cases:
        try:
            ok = fn(*args) == want
        except Exception:
            ok = False
        passed += ok
    return passed / len(cases)


def make_code(seed: int, student: LLMClient | None = None) -> Task:
    """Repair one function until every unit test passes."""
    return _make(specs.CODE_ORDER[seed % len(specs.CODE_ORDER)], "code")


def make_code_more(seed: int, student: LLMClient | None = None) -> Task:
    """The same, for the functions written after the strategy was built."""
    return _make(specs.CODE_MORE_ORDER[seed % len(specs.CODE_MORE_ORDER)], "code_more")


def _make(name: str, family: str) -> Task:
    fn, buggy = FUNCTIONS[name]
    return code_task(family, name, fn, buggy, specs.CODE_CASES[name], globals())


def code_task(
    family: str,
    name: str,
    fn: Any,
    buggy: str,
    cases: list[tuple[tuple[Any, ...], Any]],
    module_globals: dict[str, Any],
) -> Task:
    """A repair task: ``fn`` (a trainable function) reset to ``buggy``, judged by ``cases``;
    candidates compile in ``module_globals`` (its module's, for the searches)."""
    code = tg.code_of(fn)
    code.set_value(buggy)  # every run starts from the bug, also after an earlier repair

    def run() -> Episode:
        feedback: list[tuple[tg.Node, str]] = []
        passed = 0
        for i, (args, want) in enumerate(cases):
            inputs = [tg.node(a, name=f"case_{i}_{j}") for j, a in enumerate(args)]
            try:
                out = fn(*inputs)
            except tg.OpError as exc:
                assert exc.node is not None
                error = f"{type(exc.__cause__ or exc).__name__}"
                feedback.append((exc.node, specs.code_verdict(name, args, want, None, error)))
                continue
            passed += out.value == want
            feedback.append((out, specs.code_verdict(name, args, want, out.value, None)))
        score = passed / len(cases)
        return Episode(feedback, score, score == 1.0)

    def evaluate(values: dict[str, Any]) -> float:
        try:
            source = compile_source(name, values[name], module_globals)
            return passed_fraction(name, source, cases)
        except Exception:  # the candidate does not even define the function
            return 0.0

    return Task(family, f"{family}/{name}", [code], run, evaluate, info={"function": name})


CODE = Family("code", "c", "repair a function from failing unit tests", make_code)
CODE_MORE = Family(
    "code_more", "c", "repair a function from failing unit tests (unseen)", make_code_more
)
