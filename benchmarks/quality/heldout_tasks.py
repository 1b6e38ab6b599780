"""Held-out families, written after the optimizer was tuned: (a) ``number_b``, (b) ``training_b``,
(e) ``pipeline`` and (c) ``code_b``.

Each is of a kind the suite already has, with its own data, wording and workflow (the judges and
simulations are in ``heldout_specs``), so a result on them says whether the optimizer carries
over to tasks it was never tuned on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tracegraph as tg
from benchmarks.quality import heldout_specs as hs
from benchmarks.quality.code_tasks import code_task, passed_fraction
from benchmarks.quality.task import Episode, Family, Task
from optimizers.llm.types import LLMClient

# ------------------------------------------------------------------ (a) one number

# seed 0 has no bounds at all: nothing stops a proposal below zero
NUMBER_B_BOUNDS: list[tuple[float | None, float | None] | None] = [None, (0, None), (0, None)]


@tg.op
def submit(x: float) -> float:
    """Hand x to a hidden checker, which answers whether the value it wants is higher or lower."""
    return float(x)


def make_number_b(seed: int, student: LLMClient | None = None) -> Task:
    """Find a hidden number from "higher" / "lower" only."""
    target, start = hs.number_b_case(seed)
    bounds = NUMBER_B_BOUNDS[seed % len(NUMBER_B_BOUNDS)]
    x = tg.param(start, name="x", description="the value the checker wants", bounds=bounds)

    def run() -> Episode:
        out = submit(x)
        text, score, solved = hs.number_b_judge(out.value, target)
        return Episode([(out, text)], score, solved)

    def evaluate(values: dict[str, Any]) -> float:
        return hs.number_b_judge(float(values["x"]), target)[1]

    return Task(
        "number_b",
        f"number_b/target={target:g}",
        [x],
        run,
        evaluate,
        info={"target": target, "start": start},
    )


# ------------------------------------------------------------------ (b) training loop


@tg.op
def fit(learning_rate: float, batch_size: int, weight_decay: float, schedule: str) -> float:
    """Train a logistic-regression classifier by mini-batch SGD; its validation loss.

    A fixed number of epochs over a fixed dataset; ``schedule`` is how the learning rate changes
    over the steps, ``weight_decay`` the L2 penalty on the weights.
    """
    return hs.train_b_loss(learning_rate, batch_size, weight_decay, schedule)


TRAIN_B_NAMES = ("learning_rate", "batch_size", "weight_decay", "schedule")


def make_training_b(seed: int, student: LLMClient | None = None) -> Task:
    """Tune a learning rate, a batch size, weight decay and a schedule from the validation loss."""
    lr, batch, decay, schedule = hs.TRAIN_B_STARTS[seed % len(hs.TRAIN_B_STARTS)]
    params = [
        tg.param(lr, name="learning_rate", bounds=(1e-5, 10.0), description="SGD step size"),
        tg.param(batch, name="batch_size", bounds=(1, 64), description="examples per step"),
        tg.param(decay, name="weight_decay", bounds=(0.0, 1.0), description="L2 penalty"),
        tg.param(schedule, name="schedule", choices=hs.SCHEDULE_CHOICES),
    ]

    def run() -> Episode:
        out = fit(*params)
        text, score, solved = hs.val_loss_judge(out.value)
        return Episode([(out, text)], score, solved)

    def evaluate(values: dict[str, Any]) -> float:
        return hs.val_loss_judge(hs.train_b_loss(*(values[n] for n in TRAIN_B_NAMES)))[1]

    start = dict(zip(TRAIN_B_NAMES, (lr, batch, decay, schedule), strict=True))
    return Task("training_b", f"training_b/start={seed % 3}", params, run, evaluate, info=start)


# ------------------------------------------------------------------ (e) sensor pipeline


@tg.op
def smooth(signal: list[float], window: int) -> list[float]:
    """The signal's centred moving average over ``window`` samples."""
    return hs.smooth_signal(signal, window)


@tg.op
def detect(smoothed: list[float], threshold: float) -> list[int]:
    """Event positions: the peak of each run of samples at or above ``threshold``."""
    return hs.detect_events(smoothed, threshold)


# window, threshold per seed: too small and low, too large and high, small and high
PIPELINE_STARTS: list[tuple[int, float]] = [(1, 0.2), (30, 0.9), (2, 1.1)]


def make_pipeline(seed: int, student: LLMClient | None = None) -> Task:
    """Two steps (smooth, then detect: an intermediate node) and two parameters; F1 only."""
    w0, t0 = PIPELINE_STARTS[seed % len(PIPELINE_STARTS)]
    window = tg.param(w0, name="window", bounds=(1, 31), description="samples averaged")
    threshold = tg.param(
        t0, name="threshold", bounds=(0.0, 2.0), description="smoothed level that is an event"
    )

    def run() -> Episode:
        signal = tg.node(hs.PIPE_SIGNAL, name="signal")
        events = detect(smooth(signal, window), threshold)
        text, score = hs.events_judge(events.value)
        return Episode([(events, text)], score, score == 1.0)

    def evaluate(values: dict[str, Any]) -> float:
        smoothed = hs.smooth_signal(hs.PIPE_SIGNAL, int(values["window"]))
        return hs.events_judge(hs.detect_events(smoothed, float(values["threshold"])))[1]

    return Task(
        "pipeline",
        f"pipeline/start={w0},{t0}",
        [window, threshold],
        run,
        evaluate,
        info={"window": w0, "threshold": t0},
    )


# ------------------------------------------------------------------ (c) code repair


@tg.trainable
def roman_to_int(numeral: str) -> int:
    """The value of a Roman numeral such as 'XIV' or 'MCMXCIV'."""
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    return sum(values[c] for c in numeral)


@tg.trainable
def chunk(items: list[Any], size: int) -> list[list[Any]]:
    """The items in consecutive lists of ``size``; the last list may be shorter."""
    return [items[i : i + size] for i in range(0, len(items) - size + 1, size)]


@tg.trainable
def camel_to_snake(name: str) -> str:
    """A camelCase or PascalCase name in snake_case; an acronym stays one word."""
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


CODE_B_FUNCTIONS: dict[str, tuple[Any, str]] = {
    "roman_to_int": (roman_to_int, hs.ROMAN_BUGGY),
    "chunk": (chunk, hs.CHUNK_BUGGY),
    "camel_to_snake": (camel_to_snake, hs.SNAKE_BUGGY),
}


def passed_fraction_b(name: str, fn: Callable[..., Any]) -> float:
    """The share of ``name``'s unit tests ``fn`` passes, untraced."""
    return passed_fraction(name, fn, hs.CODE_B_CASES[name])


def make_code_b(seed: int, student: LLMClient | None = None) -> Task:
    """Repair one function until every unit test passes (seed ``i``: CODE_B_ORDER[i % 3])."""
    name = hs.CODE_B_ORDER[seed % len(hs.CODE_B_ORDER)]
    fn, buggy = CODE_B_FUNCTIONS[name]
    return code_task("code_b", name, fn, buggy, hs.CODE_B_CASES[name], globals())


NUMBER_B = Family("number_b", "a", "one number, 'higher'/'lower' only (held out)", make_number_b)
TRAINING_B = Family(
    "training_b",
    "b",
    "mini-batch SGD: learning rate, batch size, weight decay, schedule; validation loss (held out)",
    make_training_b,
)
PIPELINE = Family(
    "pipeline",
    "e",
    "smooth -> detect sensor workflow, window and threshold; F1 (held out)",
    make_pipeline,
)
CODE_B = Family("code_b", "c", "repair a function from failing unit tests (held out)", make_code_b)
