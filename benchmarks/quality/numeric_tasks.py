"""Families (a) one number, (b) training-loop hyperparameters, (e) the retrieval workflow."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import tracegraph as tg
from benchmarks.quality import specs
from benchmarks.quality.task import Episode, Family, Task
from optimizers.llm.types import LLMClient

_EXAMPLES = str(Path(__file__).resolve().parents[2] / "examples")
if _EXAMPLES not in sys.path:  # the examples import their helpers from their own folder
    sys.path.insert(0, _EXAMPLES)

from _retrieval_task import judge as retrieval_judge  # noqa: E402
from hyperparameters import rerank, retrieve  # noqa: E402

# ------------------------------------------------------------------ (a) one number


@tg.op
def probe(x: float) -> float:
    """Send x to the hidden system under test; its reading is compared with a hidden target."""
    return float(x)


def make_number(seed: int, student: LLMClient | None = None) -> Task:
    """Find a hidden number from "too small" / "too large" only."""
    target, start = specs.number_case(seed)
    x = tg.param(start, name="x", description="the number to find", bounds=(0, None))

    def run() -> Episode:
        out = probe(x)
        text, score, solved = specs.number_judge(out.value, target)
        return Episode([(out, text)], score, solved)

    def evaluate(values: dict[str, Any]) -> float:
        return specs.number_judge(float(values["x"]), target)[1]

    return Task("number", f"number/target={target:g}", [x], run, evaluate, info={"target": target})


# ------------------------------------------------------------------ (b) training loop


@tg.op
def train(learning_rate: float, epochs: int, optimizer: str, normalize: str) -> float:
    """Train a small linear model by full-batch gradient descent; the final training loss.

    ``optimizer`` is the update rule, ``normalize`` how the input features are scaled first.
    """
    return specs.train_loss(learning_rate, epochs, optimizer, normalize)


def make_training(seed: int, student: LLMClient | None = None) -> Task:
    """Tune a learning rate, epochs and two categorical choices from the final loss alone."""
    lr, epochs, optimizer, normalize = specs.TRAIN_STARTS[seed % len(specs.TRAIN_STARTS)]
    params = [
        tg.param(lr, name="learning_rate", bounds=(1e-5, 2.0), description="step size"),
        tg.param(epochs, name="epochs", bounds=(1, 50), description="passes over the data"),
        tg.param(optimizer, name="optimizer", choices=specs.OPTIMIZER_CHOICES),
        tg.param(normalize, name="normalize", choices=specs.NORMALIZE_CHOICES),
    ]

    def run() -> Episode:
        out = train(*params)
        text, score, solved = specs.loss_judge(out.value)
        return Episode([(out, text)], score, solved)

    def evaluate(values: dict[str, Any]) -> float:
        names = ("learning_rate", "epochs", "optimizer", "normalize")
        return specs.loss_judge(specs.train_loss(*(values[n] for n in names)))[1]

    start = {"learning_rate": lr, "epochs": epochs, "optimizer": optimizer, "normalize": normalize}
    return Task("training", f"training/start={seed % 3}", params, run, evaluate, info=start)


# ------------------------------------------------------------------ (e) retrieval workflow

RETRIEVAL_STARTS = [(1, 0.95), (9, 0.1), (2, 0.5)]  # top_k, threshold per seed


def make_retrieval(seed: int, student: LLMClient | None = None) -> Task:
    """Two steps (retrieve, then rerank: an intermediate node) and two parameters; F1 only."""
    k0, t0 = RETRIEVAL_STARTS[seed % len(RETRIEVAL_STARTS)]
    top_k = tg.param(k0, name="top_k", bounds=(1, 9), description="most passages retrieved")
    threshold = tg.param(
        t0, name="threshold", bounds=(0.0, 1.0), description="minimum similarity kept"
    )

    def run() -> Episode:
        found = rerank(retrieve(top_k, threshold))
        text, score = retrieval_judge(found.value)
        return Episode([(found, text)], score, score == 1.0)

    def evaluate(values: dict[str, Any]) -> float:
        with tg.no_trace():
            found = rerank(retrieve(int(values["top_k"]), float(values["threshold"])))
        return retrieval_judge(list(found))[1]

    return Task(
        "retrieval",
        f"retrieval/start={k0},{t0}",
        [top_k, threshold],
        run,
        evaluate,
        info={"top_k": k0, "threshold": t0},
    )


NUMBER = Family("number", "a", "one number, direction-only feedback", make_number)
TRAINING = Family(
    "training", "b", "learning rate, epochs and 2 categorical choices; loss only", make_training
)
RETRIEVAL = Family(
    "retrieval", "e", "retrieve -> rerank workflow, top_k and threshold; F1", make_retrieval
)
