"""Run Microsoft Trace's OptoPrime on one quality-suite task: the comparison's other side.

Runs in Trace's own virtual environment (never imported by tracegraph): it uses Trace's public
API, ``openai``, the suite's stdlib-only targets, judges and data (``specs``, ``prompt_data``),
and the counting client and step of ``benchmarks/vs_trace_runner.py``. Prints one JSON line
with the fields of our run records.

The families whose workflow calls the task model (``labels``, ``digits``, ``extract``,
``invoice``) ask the same endpoint as the optimizer (``TRACE_CUSTOMLLM_*``) from inside a
traced op, the instruction as the system prompt, at temperature 0 and the family's token limit,
memoised for the run as on our side; those calls are counted apart (``student_calls``).

    /tmp/trace-venv/bin/python benchmarks/quality/trace_runner.py number 0 12
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))  # their helpers

import openai
from _retrieval_task import judge as retrieval_judge
from opto.optimizers import OptoPrime  # the competitor's graph optimizer
from opto.trace import bundle, node

from benchmarks.quality import specs
from benchmarks.quality.prompt_data import (  # the very data our families use
    EXTRACTS,
    PROMPTS,
    ExtractData,
    PromptData,
    answer_verdict,
    raised_feedback,
)
from benchmarks.quality.trace_tasks import HELD_OUT, Rows, Setup, code_setup, failed, judged_setup
from benchmarks.vs_trace_runner import CountingLLM, one_step, rerank, retrieve

_ = re  # the trained parsers run in this module's globals: `re` and `json` are there to use


# ------------------------------------------------------------------------- the task model


class Student:
    """The task model on the optimizer's endpoint: temperature 0, memoised, its calls counted."""

    def __init__(self) -> None:
        self.calls = self.tokens = 0
        self._memo: dict[tuple[str, str, int], str] = {}
        self._lock = threading.Lock()
        self._client: Any = None

    def _connect(self) -> Any:
        with self._lock:
            if self._client is None:  # the endpoint and key Trace's CustomLLM reads
                self._client = openai.OpenAI(
                    base_url=os.environ.get("TRACE_CUSTOMLLM_URL") or None,
                    api_key=os.environ.get("TRACE_CUSTOMLLM_API_KEY") or None,
                )
            return self._client

    def ask(self, system: str, user: str, max_tokens: int) -> str:
        """The reply to ``user`` under the instruction ``system``, as our ``ask_student``."""
        key = (system, user, max_tokens)
        with self._lock:
            hit = self._memo.get(key)
        if hit is not None:
            return hit
        reply = self._connect().chat.completions.create(
            model=os.environ.get("TRACE_CUSTOMLLM_MODEL", "gpt-4o"),
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            temperature=0.0,
            max_tokens=max_tokens,
        )
        text = (reply.choices[0].message.content or "").strip()
        with self._lock:
            self.calls += 1
            if reply.usage is not None:
                self.tokens += reply.usage.prompt_tokens + reply.usage.completion_tokens
            self._memo[key] = text
        return text

    def prefetch(self, system: str, users: Iterable[str], max_tokens: int) -> None:
        """Ask several inputs at once (as our ``prefetch``); the traced calls read the memo."""
        todo = [u for u in dict.fromkeys(users) if (system, u, max_tokens) not in self._memo]
        if len(todo) > 1:
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda u: self.ask(system, u, max_tokens), todo))


STUDENT = Student()


def student_op(max_tokens: int) -> Any:
    """The traced op that asks the task model one input under the instruction."""

    def answer(instruction, text):
        """Ask the task model: the instruction is its system prompt, the text its input."""
        return STUDENT.ask(str(instruction), str(text), max_tokens)

    answer.__qualname__ = "answer"  # Trace names the op by it (not student_op.<locals>...)
    return bundle()(answer)


def accuracy(instruction: str, data: list[tuple[str, str]], tokens: int) -> float:
    """Exact-match accuracy of ``instruction`` on ``data``, untraced."""
    STUDENT.prefetch(instruction, (q for q, _ in data), tokens)
    return sum(STUDENT.ask(instruction, q, tokens) == want for q, want in data) / len(data)


# --------------------------------------------------------------------------- the families


@bundle()
def probe(x):
    """Send x to the hidden system under test; its reading is compared with a hidden target."""
    return float(x)


@bundle()
def train(learning_rate, epochs, optimizer, normalize):
    """Train a small linear model by full-batch gradient descent; the final training loss."""
    return specs.train_loss(learning_rate, epochs, optimizer, normalize)


@bundle(trainable=True)
def slugify(title):
    """Lowercase the words of a title and join them with single hyphens; drop punctuation."""
    return title.lower().replace(" ", "-")


@bundle(trainable=True)
def is_leap_year(year):
    """Whether the year is a leap year in the Gregorian calendar."""
    return year % 4 == 0


@bundle(trainable=True)
def invert_mapping(mapping):
    """Map each value to the sorted list of the keys that have it."""
    return {value: [key] for key, value in mapping.items()}


@bundle(trainable=True)
def parse_reply(reply):
    """Turn the model's reply into a dict with the keys "name" and "date" (YYYY-MM-DD)."""
    return json.loads(reply)


@bundle(trainable=True)
def read_invoice(reply):
    """The model's reply as a dict: "vendor", "total" (a number) and "currency" (3 letters)."""
    return json.loads(reply)


@bundle(trainable=True)
def read_contact(reply):
    """The model's reply as a dict: "name", "email" (lowercase) and "phone" (digits only)."""
    return json.loads(reply)


CODE = {"slugify": slugify, "is_leap_year": is_leap_year, "invert_mapping": invert_mapping}
PARSERS = {"extract": parse_reply, "invoice": read_invoice, "contact": read_contact}


def number(seed: int) -> Setup:
    target, start = specs.number_case(seed)
    x = node(start, trainable=True, name="x")

    def forward() -> Rows:
        out = probe(x)
        text, score, solved = specs.number_judge(float(out.data), target)
        return [(out, text, score, solved)]

    return Setup([x], forward)


def training(seed: int) -> Setup:
    start = list(specs.TRAIN_STARTS[seed % len(specs.TRAIN_STARTS)])
    names = ["learning_rate", "epochs", "optimizer", "normalize"]
    return judged_setup(train, names, start, specs.loss_judge, {})


def code(seed: int) -> Setup:
    name = specs.CODE_ORDER[seed % len(specs.CODE_ORDER)]
    return code_setup(name, CODE[name], specs.CODE_CASES[name])


def retrieval(seed: int) -> Setup:
    k0, t0 = [(1, 0.95), (9, 0.1), (2, 0.5)][seed % 3]
    top_k = node(k0, trainable=True, name="top_k")
    threshold = node(t0, trainable=True, name="threshold")

    def forward() -> Rows:
        try:
            found = rerank(retrieve(top_k, threshold))
        except Exception as exc:
            return failed(exc, 0.0)
        text, score = retrieval_judge(list(found.data))
        return [(found, text, score, score == 1.0)]

    return Setup([top_k, threshold], forward)


def _misses(misses: list[tuple[Any, str]], right: int, total: int) -> Rows:
    """Feedback rows for the misses (as ours: nothing from the right answers)."""
    score = right / total
    if not misses:
        return [(None, "all correct", score, score == 1.0)]
    return [(o, t, score, score == 1.0) for o, t in misses]


def prompt(family: str, seed: int) -> Setup:
    """(d) prompt tuning: the instruction is trained, the task model answers each input."""
    data: PromptData = PROMPTS[family]
    answer = student_op(data.tokens)
    start = data.starts[seed % len(data.starts)]
    instruction = node(start, trainable=True, name="instruction")

    def forward() -> Rows:
        STUDENT.prefetch(str(instruction.data), (q for q, _ in data.train), data.tokens)
        misses: list[tuple[Any, str]] = []
        right = 0
        for q, want in data.train:
            got = answer(instruction, q)
            said = answer_verdict(want, got.data)
            if said is None:
                right += 1
            else:
                misses.append((got, said))
        return _misses(misses, right, len(data.train))

    def held_out() -> dict[str, float]:
        return {"test_accuracy": accuracy(str(instruction.data), data.test, data.tokens)}

    return Setup([instruction], forward, held_out, {"start": start})


def _raised(exc: Exception) -> str:
    """The class name of what a traced parser raised (Trace keeps "(module.Class) text")."""
    shown = str(getattr(getattr(exc, "exception_node", None), "data", ""))
    found = re.match(r"\(([\w.]+)\)", shown)
    return found.group(1).rsplit(".", 1)[-1] if found else type(exc).__name__


def extraction(family: str, seed: int) -> Setup:
    """(f) extraction: an instruction and a parser (its code) are trained together."""
    data: ExtractData = EXTRACTS[family]
    fn = PARSERS[family]
    assert " ".join(fn.info["doc"].split()) == data.doc, family
    fn.parameter._set(data.start_parser)  # our starting parser, to the character
    answer = student_op(data.tokens)
    start = data.starts[seed % len(data.starts)]
    instruction = node(start, trainable=True, name="instruction")

    def forward() -> Rows:
        STUDENT.prefetch(str(instruction.data), (t for t, _ in data.cases), data.tokens)
        misses: list[tuple[Any, str]] = []
        right = 0
        for text, want in data.cases:
            reply = answer(instruction, text)
            try:
                out = fn(reply)
            except Exception as exc:  # Trace raises with the exception as a node
                feedback = raised_feedback(data.fn_name, _raised(exc), want)
                misses.append((getattr(exc, "exception_node", None), feedback))
                continue
            said = data.verdict(text, want, out.data)
            if said is None:
                right += 1
            else:
                misses.append((out, said))
        return _misses(misses, right, len(data.cases))

    return Setup([instruction, fn.parameter], forward, None, {"start": start})


TASKS: dict[str, Callable[[int], Setup]] = {
    "number": number,
    "training": training,
    "code": code,
    "retrieval": retrieval,
}
TASKS.update({name: partial(prompt, name) for name in ("labels", "digits", "topics")})
TASKS.update({name: partial(extraction, name) for name in ("extract", "invoice", "contact")})
TASKS.update(HELD_OUT)


def main() -> int:
    family, seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    start = time.perf_counter()
    setup = TASKS[family](seed)
    params, forward = setup.params, setup.forward
    held_before = setup.held_out() if setup.held_out else None  # counted, as on our side
    llm = CountingLLM()
    opt = OptoPrime(params, llm=llm)
    rows = forward()
    score_before = rows[0][2]
    out_rows: list[dict[str, Any]] = []
    for i in range(steps):
        if rows[0][3]:
            break
        was = STUDENT.calls, STUDENT.tokens
        row = one_step(opt, params, [(o, t, s) for o, t, s, _ in rows], llm)
        rows = forward()
        calls, tokens = STUDENT.calls - was[0], STUDENT.tokens - was[1]
        out_rows.append(
            {
                "step": i + 1,
                "score": rows[0][2],
                "solved": bool(rows[0][3]),
                **row,
                "optimizer_calls": row["calls"],
                "student_calls": calls,
                "tokens": row["input_tokens"] + row["output_tokens"] + tokens,
            }
        )
    held_after = setup.held_out() if setup.held_out else None
    noop = [r for r in out_rows if not r["changed"]]
    result: dict[str, Any] = {
        "family": family,
        "task": f"{family}/seed={seed}",
        "optimizer": "trace-optoprime",
        "seed": seed,
        "info": setup.info,
        "solved": bool(rows[0][3]),
        "steps": len(out_rows),
        "score_before": score_before,
        "score_after": rows[0][2],
        "calls": llm.calls + STUDENT.calls,
        "optimizer_calls": llm.calls,
        "student_calls": STUDENT.calls,
        "tokens": llm.input_tokens + llm.output_tokens + STUDENT.tokens,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "noop_steps": len(noop),
        "silent_noops": sum(1 for r in noop if "error" not in r),  # Trace gives no reasons
        "final_values": {str(p.py_name): str(p.data)[:400] for p in params},
        "rows": out_rows,
    }
    if held_before is not None and held_after is not None:
        result["held_out_before"] = held_before
        result["held_out_after"] = held_after
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
