"""Held-out families' targets, simulations, test cases and judges: standard library only.

These families were written after the optimizer was tuned, independently of the ones in
``specs.py``, to check that it carries over to tasks it never saw: the same kinds (one number,
a training loop, a two-step workflow, code repair), other data, other wording of the feedback.
"""

from __future__ import annotations

import math
from typing import Any

# ------------------------------------------------------- (a) one number, "higher" / "lower"

# (hidden target, starting value) per seed: very different scales; seeds 0 and 2 start above
NUMBER_B_CASES: list[tuple[float, float]] = [(0.052, 2.0), (640.0, 5.0), (8400.0, 90000.0)]
NUMBER_B_TOLERANCE = 0.02  # solved within 2 % of the target


def number_b_case(seed: int) -> tuple[float, float]:
    """The hidden target and the start of run ``seed`` (later rounds start farther away)."""
    target, start = NUMBER_B_CASES[seed % len(NUMBER_B_CASES)]
    return target, start * (1 + seed // len(NUMBER_B_CASES))


def number_b_judge(x: float, target: float) -> tuple[str, float, bool]:
    """Which way to go, the score (minus the relative distance) and whether solved.

    >>> number_b_judge(700.0, 640.0)[0], number_b_judge(5.0, 640.0)[0]
    ('lower', 'higher')
    >>> number_b_judge(650.0, 640.0)
    ('right: keep it', 0.0, True)
    """
    if abs(x - target) <= NUMBER_B_TOLERANCE * abs(target):
        return "right: keep it", 0.0, True
    score = -round(abs(x - target) / abs(target), 4)
    return ("higher" if x < target else "lower"), score, False


# ----------------------------------------- (b) mini-batch SGD of a logistic regression

VAL_LOSS_SOLVED = 0.52  # about 7 % of a log-grid of the four settings reaches it
SCHEDULE_CHOICES = ["constant", "step_decay", "warmup"]
TRAIN_B_EPOCHS = 10
# learning_rate, batch_size, weight_decay, schedule per seed: too slow, too fast, too decayed
TRAIN_B_STARTS: list[tuple[float, int, float, str]] = [
    (0.0001, 32, 0.0, "constant"),
    (3.0, 1, 0.0, "constant"),
    (0.05, 16, 0.8, "warmup"),
]


def lcg(seed: int, n: int) -> list[float]:
    """``n`` deterministic pseudo-random numbers in [0, 1) (a linear congruential generator).

    >>> lcg(1, 2) == lcg(1, 2) and all(0 <= u < 1 for u in lcg(7, 50))
    True
    """
    out, x = [], seed
    for _ in range(n):
        x = (1103515245 * x + 12345) % 2**31
        out.append(x / 2**31)
    return out


Rows = list[tuple[tuple[float, float, float], float]]  # features, label (0 or 1)


def _classification_data(n: int, seed: int) -> Rows:
    """Two informative features on scales 10x apart, one pure-noise feature, noisy labels."""
    u = lcg(seed, 5 * n)
    rows = []
    for i in range(n):
        a, b, c, d = u[5 * i : 5 * i + 4]
        x = (4 * a - 2, 40 * b - 20, 2 * c - 1)
        p = 1 / (1 + math.exp(-(1.5 * x[0] - 0.1 * x[1] + 0.3)))
        rows.append((x, 1.0 if d < p else 0.0))
    return rows


TRAIN_B_DATA = _classification_data(48, 7)
VAL_B_DATA = _classification_data(48, 99)


def _log_loss(w: list[float], b: float, data: Rows) -> float:
    total = 0.0
    for x, y in data:
        s = -(b + sum(wi * xi for wi, xi in zip(w, x, strict=True)))
        s = s if y else -s  # the loss is log(1 + exp(s)), computed without overflow
        total += s + math.log1p(math.exp(-s)) if s > 0 else math.log1p(math.exp(s))
    return total / len(data)


def _rate(learning_rate: float, schedule: str, t: int, total: int) -> float:
    if schedule == "step_decay":  # a tenth of the rate after each third of the steps
        return learning_rate * 0.1 ** (t * 3 // total)
    if schedule == "warmup":  # rises linearly over the first 30 % of the steps
        return learning_rate * min(1.0, (t + 1) / (0.3 * total))
    return learning_rate


def train_b_loss(
    learning_rate: float, batch_size: int, weight_decay: float, schedule: str
) -> float:
    """Mini-batch SGD of a logistic regression on TRAIN_B_DATA; the validation log-loss.

    Deterministic (fixed batch order, ``TRAIN_B_EPOCHS`` epochs), ``inf`` when it diverges or
    the settings make no sense; never raises.

    >>> good, start = (0.1, 4, 0.01, "step_decay"), TRAIN_B_STARTS[0]
    >>> train_b_loss(*good) < VAL_LOSS_SOLVED < train_b_loss(*start)
    True
    >>> train_b_loss(float("nan"), 4, 0.0, "constant")
    inf
    """
    try:
        return _train_b(
            float(learning_rate), max(1, int(batch_size)), float(weight_decay), schedule
        )
    except (OverflowError, ValueError, ZeroDivisionError, TypeError):
        return math.inf


def _train_b(learning_rate: float, batch: int, weight_decay: float, schedule: str) -> float:
    data, w, b = TRAIN_B_DATA, [0.0, 0.0, 0.0], 0.0
    total = math.ceil(len(data) / batch) * TRAIN_B_EPOCHS
    t = 0
    for _ in range(TRAIN_B_EPOCHS):
        for start in range(0, len(data), batch):
            rate = _rate(learning_rate, schedule, t, total)
            t += 1
            rows = data[start : start + batch]
            grad, grad_b = [0.0, 0.0, 0.0], 0.0
            for x, y in rows:
                z = b + w[0] * x[0] + w[1] * x[1] + w[2] * x[2]
                p = 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))
                for j in range(3):
                    grad[j] += (p - y) * x[j]
                grad_b += p - y
            for j in range(3):
                w[j] -= rate * (grad[j] / len(rows) + weight_decay * w[j])
            b -= rate * grad_b / len(rows)
            if not all(abs(v) < 1e6 for v in (*w, b)):  # also catches nan
                return math.inf
    return _log_loss(w, b, VAL_B_DATA)


def val_loss_judge(loss: float) -> tuple[str, float, bool]:
    """Feedback is the validation loss only; the score is minus the loss (capped).

    >>> val_loss_judge(0.5)
    ('validation loss: 0.5', -0.5, True)
    """
    text = f"validation loss: {loss:.4g}"
    score = -min(loss, 1e12) if math.isfinite(loss) else -1e12
    return text, score, loss <= VAL_LOSS_SOLVED


# ------------------------------------------------- (e) smooth -> detect, a sensor pipeline

PIPE_LENGTH = 240
PIPE_EVENTS: list[tuple[int, float]] = [(30, 1.0), (66, 0.6), (86, 0.9), (140, 1.3), (196, 0.7)]
# single-sample glitches a small window lets through (position, height)
PIPE_GLITCHES: list[tuple[int, float]] = [
    (50, 1.6),
    (112, -1.4),
    (118, 1.5),
    (168, 1.7),
    (220, 1.4),
]
PIPE_TOLERANCE = 4  # a detection within 4 samples of an event finds it


def _sensor_signal() -> list[float]:
    """Gaussian bumps (sigma 4) at the hidden events, uniform noise of +-0.2, and glitches."""
    u = lcg(2024, PIPE_LENGTH)
    signal = []
    for i in range(PIPE_LENGTH):
        v = 0.4 * (u[i] - 0.5)
        for pos, height in PIPE_EVENTS:
            v += height * math.exp(-(((i - pos) / 4.0) ** 2) / 2)
        signal.append(v)
    for pos, height in PIPE_GLITCHES:
        signal[pos] += height
    return [round(v, 3) for v in signal]


PIPE_SIGNAL = _sensor_signal()


def smooth_signal(signal: list[float], window: int) -> list[float]:
    """The centred moving average over ``window`` samples (shorter at the ends).

    >>> smooth_signal([0.0, 3.0, 0.0, 0.0], 3)
    [1.5, 1.0, 1.0, 0.0]
    """
    w = max(1, int(window))
    out = []
    for i in range(len(signal)):
        lo, hi = max(0, i - w // 2), min(len(signal), i - w // 2 + w)
        out.append(round(sum(signal[lo:hi]) / (hi - lo), 3))
    return out


def detect_events(smoothed: list[float], threshold: float) -> list[int]:
    """One event per run of samples at or above ``threshold``: the index of the run's peak.

    >>> detect_events([0.0, 0.5, 0.9, 0.4, 0.0, 0.7], 0.5)
    [2, 5]
    """
    found: list[int] = []
    i = 0
    while i < len(smoothed):
        if smoothed[i] < threshold:
            i += 1
            continue
        j = i
        while j < len(smoothed) and smoothed[j] >= threshold:
            j += 1
        found.append(max(range(i, j), key=lambda k: smoothed[k]))
        i = j
    return found


def events_judge(found: list[int]) -> tuple[str, float]:
    """Precision, recall and F1 of the detections, and the F1 score; the events stay hidden.

    >>> events_judge([30, 66, 86, 140, 196])
    ('precision 1.00, recall 1.00, F1 1.00; found 5 events, expected 5', 1.0)
    """
    truth = [pos for pos, _ in PIPE_EVENTS]
    hits = sum(any(abs(f - t) <= PIPE_TOLERANCE for f in found) for t in truth)
    right = sum(any(abs(f - t) <= PIPE_TOLERANCE for t in truth) for f in found)
    precision = right / len(found) if found else 0.0
    recall = hits / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    text = (
        f"precision {precision:.2f}, recall {recall:.2f}, F1 {f1:.2f}; "
        f"found {len(found)} event{'' if len(found) == 1 else 's'}, expected {len(truth)}"
    )
    return text, round(f1, 4)


# ------------------------------------------------------------------- (c) code repair

ROMAN_BUGGY = '''def roman_to_int(numeral):
    """The value of a Roman numeral such as 'XIV' or 'MCMXCIV'."""
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    return sum(values[c] for c in numeral)
'''
CHUNK_BUGGY = '''def chunk(items, size):
    """The items in consecutive lists of ``size``; the last list may be shorter."""
    return [items[i : i + size] for i in range(0, len(items) - size + 1, size)]
'''
SNAKE_BUGGY = '''def camel_to_snake(name):
    """A camelCase or PascalCase name in snake_case; an acronym stays one word."""
    return "".join("_" + c.lower() if c.isupper() else c for c in name)
'''
CODE_B_CASES: dict[str, list[tuple[tuple[Any, ...], Any]]] = {
    "roman_to_int": [(("III",), 3), (("IV",), 4), (("LVIII",), 58), (("MCMXCIV",), 1994)],
    "chunk": [
        (([1, 2, 3, 4], 2), [[1, 2], [3, 4]]),
        (([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]),
        (([], 3), []),
        ((["a", "b"], 5), [["a", "b"]]),
    ],
    "camel_to_snake": [
        (("camelCase",), "camel_case"),
        (("PascalCase",), "pascal_case"),
        (("getHTTPResponse",), "get_http_response"),
        (("version2Update",), "version2_update"),
    ],
}
CODE_B_ORDER = ["roman_to_int", "chunk", "camel_to_snake"]  # seed i repairs CODE_B_ORDER[i % 3]
