"""Trace's side of the held-out families (``number_b``, ``training_b``, ``pipeline``,
``code_b``) and the setup both code families share.

Runs in Trace's own virtual environment, imported by ``trace_runner.py`` only: Trace's public
API and the stdlib-only simulations and judges of ``heldout_specs``, the very ones our families
(``heldout_tasks``) use. The ops carry our ops' docstrings, so both optimizers read the same
program.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from opto.trace import bundle, node

from benchmarks.quality import heldout_specs as hs
from benchmarks.quality import specs

Rows = list[tuple[Any, str, float, bool]]


@dataclass
class Setup:
    """One task instance: its trainable nodes, its traced workflow, its held-out figures."""

    params: list[Any]
    forward: Callable[[], Rows]
    held_out: Callable[[], dict[str, float]] | None = None
    info: dict[str, Any] = field(default_factory=dict)


def failed(exc: Exception, score: float) -> Rows:
    """The row for a workflow a proposal broke (a value of the wrong type, say)."""
    return [(getattr(exc, "exception_node", None), f"the program failed: {exc}", score, False)]


def judged_setup(
    op: Any, names: list[str], values: list[Any], judge: Any, info: dict[str, Any]
) -> Setup:
    """One traced op over trainable nodes ``names`` (started at ``values``), its float output
    judged by ``judge`` -> (text, score, solved); a proposal that breaks the op scores -1e12."""
    params = [node(v, trainable=True, name=n) for n, v in zip(names, values, strict=True)]

    def forward() -> Rows:
        try:
            out = op(*params)
        except Exception as exc:  # a proposal of the wrong type breaks the program
            return failed(exc, -1e12)
        text, score, solved = judge(float(out.data))
        return [(out, text, score, solved)]

    return Setup(params, forward, None, info)


def code_setup(name: str, fn: Any, cases: list[tuple[tuple[Any, ...], Any]]) -> Setup:
    """(c) code repair: ``fn`` (a trainable bundle) until every case of ``cases`` passes."""

    def forward() -> Rows:
        rows: list[tuple[Any, str]] = []
        passed = 0
        for i, (args, want) in enumerate(cases):
            try:
                out = fn(*[node(a, name=f"case_{i}_{j}") for j, a in enumerate(args)])
                got = out.data
            except Exception as exc:  # Trace raises with the exception as a node
                text = specs.code_verdict(name, args, want, None, type(exc).__name__)
                rows.append((getattr(exc, "exception_node", None), text))
                continue
            passed += got == want
            rows.append((out, specs.code_verdict(name, args, want, got, None)))
        score = passed / len(cases)
        return [(o, t, score, score == 1.0) for o, t in rows]

    return Setup([fn.parameter], forward, None, {"function": name})


# --------------------------------------------------------------------------- the ops


@bundle()
def submit(x):
    """Hand x to a hidden checker, which answers whether the value it wants is higher or lower."""
    return float(x)


@bundle()
def fit(learning_rate, batch_size, weight_decay, schedule):
    """Train a logistic-regression classifier by mini-batch SGD; its validation loss.

    A fixed number of epochs over a fixed dataset; ``schedule`` is how the learning rate changes
    over the steps, ``weight_decay`` the L2 penalty on the weights.
    """
    return hs.train_b_loss(learning_rate, batch_size, weight_decay, schedule)


@bundle()
def smooth(signal, window):
    """The signal's centred moving average over ``window`` samples."""
    return hs.smooth_signal(signal, window)


@bundle()
def detect(smoothed, threshold):
    """Event positions: the peak of each run of samples at or above ``threshold``."""
    return hs.detect_events(smoothed, threshold)


@bundle(trainable=True)
def roman_to_int(numeral):
    """The value of a Roman numeral such as 'XIV' or 'MCMXCIV'."""
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    return sum(values[c] for c in numeral)


@bundle(trainable=True)
def chunk(items, size):
    """The items in consecutive lists of ``size``; the last list may be shorter."""
    return [items[i : i + size] for i in range(0, len(items) - size + 1, size)]


@bundle(trainable=True)
def camel_to_snake(name):
    """A camelCase or PascalCase name in snake_case; an acronym stays one word."""
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


CODE_B = {"roman_to_int": roman_to_int, "chunk": chunk, "camel_to_snake": camel_to_snake}


# --------------------------------------------------------------------------- the families


def number_b(seed: int) -> Setup:
    target, start = hs.number_b_case(seed)
    judge = partial(hs.number_b_judge, target=target)
    return judged_setup(submit, ["x"], [start], judge, {"target": target, "start": start})


def training_b(seed: int) -> Setup:
    start = list(hs.TRAIN_B_STARTS[seed % len(hs.TRAIN_B_STARTS)])
    names = ["learning_rate", "batch_size", "weight_decay", "schedule"]
    return judged_setup(fit, names, start, hs.val_loss_judge, {"start": start})


PIPELINE_STARTS = [(1, 0.2), (30, 0.9), (2, 1.1)]  # as heldout_tasks.PIPELINE_STARTS


def pipeline(seed: int) -> Setup:
    w0, t0 = PIPELINE_STARTS[seed % len(PIPELINE_STARTS)]
    window = node(w0, trainable=True, name="window")
    threshold = node(t0, trainable=True, name="threshold")

    def forward() -> Rows:
        try:
            events = detect(smooth(node(hs.PIPE_SIGNAL, name="signal"), window), threshold)
        except Exception as exc:
            return failed(exc, 0.0)
        text, score = hs.events_judge(list(events.data))
        return [(events, text, score, score == 1.0)]

    return Setup([window, threshold], forward, None, {"window": w0, "threshold": t0})


def code_b(seed: int) -> Setup:
    name = hs.CODE_B_ORDER[seed % len(hs.CODE_B_ORDER)]
    return code_setup(name, CODE_B[name], hs.CODE_B_CASES[name])


HELD_OUT: dict[str, Callable[[int], Setup]] = {
    "number_b": number_b,
    "training_b": training_b,
    "pipeline": pipeline,
    "code_b": code_b,
}
