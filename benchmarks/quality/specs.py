"""The quality suite's hidden targets, simulations, test cases and judges: standard library only.

Both sides of the comparison judge with this very code: the tracegraph task families
(``benchmarks/quality/families.py``) and the Trace runner (``trace_runner.py``), which runs in
Trace's own virtual environment without our dependencies. Nothing here knows about either.
"""

from __future__ import annotations

import math
import re
from typing import Any

# ------------------------------------------------------------- (a) one number, direction only

# (hidden target, starting value) per seed; later seeds start farther away
NUMBER_CASES: list[tuple[float, float]] = [(0.37, 5.0), (27.3, 1.0), (1250.0, 100.0)]
NUMBER_TOLERANCE = 0.02  # solved within 2 % of the target


def number_case(seed: int) -> tuple[float, float]:
    """The hidden target and the start of run ``seed``."""
    target, start = NUMBER_CASES[seed % len(NUMBER_CASES)]
    return target, start * (1 + seed // len(NUMBER_CASES))


def number_judge(x: float, target: float) -> tuple[str, float, bool]:
    """Direction-only feedback, the score (minus the relative distance) and whether solved.

    >>> number_judge(30.0, 27.3)[0], number_judge(27.4, 27.3)[2]
    ('too large', True)
    """
    if abs(x - target) <= NUMBER_TOLERANCE * abs(target):
        return "correct: keep it", 0.0, True
    score = -round(abs(x - target) / abs(target), 4)
    return ("too small" if x < target else "too large"), score, False


# --------------------------------------------- (b) hyperparameters of a tiny training loop

LOSS_SOLVED = 0.01
OPTIMIZER_CHOICES = ["sgd", "momentum"]
NORMALIZE_CHOICES = ["none", "standard"]
# learning_rate, epochs, optimizer, normalize per seed
TRAIN_STARTS: list[tuple[float, int, str, str]] = [
    (0.001, 10, "sgd", "none"),
    (0.0001, 20, "momentum", "none"),
    (0.01, 5, "momentum", "standard"),
]


def _train_data() -> list[tuple[float, float, float]]:
    rows = []
    for i in range(16):
        x1 = (i * 7 % 16) / 15.0
        x2 = 10.0 + (i * 11 % 16) * 6.0  # a feature on a much larger scale
        rows.append((x1, x2, 2.0 * x1 + 0.03 * x2 + 1.0))
    return rows


TRAIN_DATA = _train_data()


def train_loss(learning_rate: float, epochs: int, optimizer: str, normalize: str) -> float:
    """Full-batch gradient descent of a linear model on TRAIN_DATA; the final mean squared error.

    Deterministic; ``inf`` when it diverges. Solvable (loss <= 0.01) only with standardized
    features and plain SGD at a learning rate of about 0.05-0.5 for enough epochs.

    >>> train_loss(0.3, 20, "sgd", "standard") < LOSS_SOLVED < train_loss(0.3, 20, "sgd", "none")
    True
    """
    data = TRAIN_DATA
    if normalize == "standard":
        stats = []
        for j in (0, 1):
            col = [row[j] for row in data]
            mean = sum(col) / len(col)
            stats.append((mean, (sum((v - mean) ** 2 for v in col) / len(col)) ** 0.5))
        data = [
            ((a - stats[0][0]) / stats[0][1], (b - stats[1][0]) / stats[1][1], y)
            for a, b, y in data
        ]
    w, velocity, n = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], len(data)
    for _ in range(max(0, int(epochs))):
        grad = [0.0, 0.0, 0.0]
        for x1, x2, y in data:
            err = w[0] * x1 + w[1] * x2 + w[2] - y
            grad[0] += 2 * err * x1 / n
            grad[1] += 2 * err * x2 / n
            grad[2] += 2 * err / n
        for j in range(3):
            if optimizer == "momentum":
                velocity[j] = 0.9 * velocity[j] + grad[j]
                w[j] -= learning_rate * velocity[j]
            else:
                w[j] -= learning_rate * grad[j]
        if any(abs(v) > 1e12 or math.isnan(v) for v in w):
            return math.inf
    return sum((w[0] * a + w[1] * b + w[2] - y) ** 2 for a, b, y in data) / n


def loss_judge(loss: float) -> tuple[str, float, bool]:
    """Feedback is the final loss only; the score is minus the loss (capped)."""
    text = f"final training loss: {loss:.4g}"
    score = -min(loss, 1e12) if math.isfinite(loss) else -1e12
    return text, score, loss <= LOSS_SOLVED


# ------------------------------------------------------------------- (c) code repair

SLUGIFY_BUGGY = '''def slugify(title):
    """Lowercase the words of a title and join them with single hyphens; drop punctuation."""
    return title.lower().replace(" ", "-")
'''
LEAP_BUGGY = '''def is_leap_year(year):
    """Whether the year is a leap year in the Gregorian calendar."""
    return year % 4 == 0
'''
INVERT_BUGGY = '''def invert_mapping(mapping):
    """Map each value to the sorted list of the keys that have it."""
    return {value: [key] for key, value in mapping.items()}
'''
CODE_CASES: dict[str, list[tuple[tuple[Any, ...], Any]]] = {
    "slugify": [
        (("Hello World",), "hello-world"),
        (("Hello, World!",), "hello-world"),
        (("  Many   spaces here ",), "many-spaces-here"),
        (("Tracegraph: a guide",), "tracegraph-a-guide"),
    ],
    "is_leap_year": [((2024,), True), ((2023,), False), ((1900,), False), ((2000,), True)],
    "invert_mapping": [
        (({"a": 1, "b": 2},), {1: ["a"], 2: ["b"]}),
        (({"b": 1, "a": 1, "c": 2},), {1: ["a", "b"], 2: ["c"]}),
        (({},), {}),
    ],
}
CODE_ORDER = ["slugify", "is_leap_year", "invert_mapping"]  # seed i repairs CODE_ORDER[i % 3]

# (c) more: three functions written after the repair strategy was built, to test that it
# carries over (parsing, order-keeping list logic, counting with normalisation)
DURATION_BUGGY = '''def parse_duration(text):
    """Minutes in a duration written like '1h30m', '45m' or '2h'."""
    return int(text.rstrip("m").split("h")[-1] or 0)
'''
DEDUPE_BUGGY = '''def dedupe(items):
    """The items without repeats, each kept at its first position."""
    return sorted(set(items))
'''
COUNT_BUGGY = '''def word_count(text):
    """How often each word occurs, ignoring case and punctuation."""
    counts = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts
'''
CODE_CASES.update(
    {
        "parse_duration": [(("1h30m",), 90), (("45m",), 45), (("2h",), 120), (("0h5m",), 5)],
        "dedupe": [
            ((["b", "a", "b"],), ["b", "a"]),
            ((["x", "x"],), ["x"]),
            (([],), []),
            ((["c", "a", "c", "b", "a"],), ["c", "a", "b"]),
        ],
        "word_count": [
            (("a b a",), {"a": 2, "b": 1}),
            (("The cat, the hat.",), {"the": 2, "cat": 1, "hat": 1}),
            (("",), {}),
            (("Go! go GO",), {"go": 3}),
        ],
    }
)
CODE_MORE_ORDER = ["parse_duration", "dedupe", "word_count"]


def code_verdict(name: str, args: tuple[Any, ...], want: Any, got: Any, error: str | None) -> str:
    """The unit test's message for one case."""
    call = f"{name}({', '.join(repr(a) for a in args)})"
    if error is not None:
        return f"{call} raised {error}; expected {want!r}"
    if got == want:
        return f"{call} = {got!r}: correct"
    return f"{call} returned {got!r}, expected {want!r}"


# ------------------------------------------------------------ (f) structured extraction

EXTRACT_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EXTRACT_CASES: list[tuple[str, dict[str, str]]] = [
    (
        "Dana Whitfield signed the lease on March 3, 2024.",
        {"name": "Dana Whitfield", "date": "2024-03-03"},
    ),
    (
        "On 12 January 2023 the prize went to Omar Haddad.",
        {"name": "Omar Haddad", "date": "2023-01-12"},
    ),
    (
        "The report by Lena Park is dated 2022/07/19.",
        {"name": "Lena Park", "date": "2022-07-19"},
    ),
    (
        "Victor Stein arrived in Oslo on the 5th of May 2021.",
        {"name": "Victor Stein", "date": "2021-05-05"},
    ),
]


def extract_verdict(text: str, want: dict[str, str], got: Any) -> str | None:
    """None when ``got`` is exactly right, else what is wrong (format first)."""
    if not isinstance(got, dict):
        return f"expected a dict with keys 'name' and 'date', got {type(got).__name__} {got!r:.80}"
    if set(got) != {"name", "date"}:
        return f"expected exactly the keys 'name' and 'date', got keys {sorted(map(str, got))}"
    if not isinstance(got["date"], str) or not EXTRACT_PATTERN.match(got["date"]):
        return (
            f"date {got['date']!r} does not have the format YYYY-MM-DD (expected {want['date']!r})"
        )
    if got != want:
        return f"expected {want!r}, got {got!r}"
    return None


INVOICE_CASES: list[tuple[str, dict[str, Any]]] = [
    (
        "Acme Tools billed us 1,250.50 EUR for the drills.",
        {"vendor": "Acme Tools", "total": 1250.5, "currency": "EUR"},
    ),
    (
        "Invoice from Blue Harbor Ltd: total due USD 89.99.",
        {"vendor": "Blue Harbor Ltd", "total": 89.99, "currency": "USD"},
    ),
    (
        "We owe Kessler Optics 3400 Swiss francs (CHF) for the repair.",
        {"vendor": "Kessler Optics", "total": 3400, "currency": "CHF"},
    ),
    (
        "Northwind charged 12.00 GBP for shipping.",
        {"vendor": "Northwind", "total": 12.0, "currency": "GBP"},
    ),
]
INVOICE_KEYS = {"vendor", "total", "currency"}


def invoice_verdict(text: str, want: dict[str, Any], got: Any) -> str | None:
    """None when ``got`` is exactly right, else what is wrong (format first)."""
    keys = "'vendor', 'total' and 'currency'"
    if not isinstance(got, dict):
        return f"expected a dict with keys {keys}, got {type(got).__name__} {got!r:.80}"
    if set(got) != INVOICE_KEYS:
        return f"expected exactly the keys {keys}, got keys {sorted(map(str, got))}"
    total = got["total"]
    if isinstance(total, bool) or not isinstance(total, (int, float)):
        return f"total {total!r} is not a number (expected {want['total']!r})"
    if not isinstance(got["currency"], str) or not re.fullmatch(r"[A-Z]{3}", got["currency"]):
        return (
            f"currency {got['currency']!r} is not a 3-letter code (expected {want['currency']!r})"
        )
    if got != want:
        return f"expected {want!r}, got {got!r}"
    return None


# (f) a third extraction task, written after the optimizer was built (held out): contact
# details where the text's formats differ from the required ones (mixed-case e-mail addresses,
# phone numbers with spaces, brackets and dashes)
CONTACT_CASES: list[tuple[str, dict[str, str]]] = [
    (
        "You can reach Ana Silva at Ana.Silva@Example.com or +1 (555) 010-2030.",
        {"name": "Ana Silva", "email": "ana.silva@example.com", "phone": "15550102030"},
    ),
    (
        "Call Jonas Berg on 030 1234 5678; his mail is jonas@berg.de.",
        {"name": "Jonas Berg", "email": "jonas@berg.de", "phone": "03012345678"},
    ),
    (
        "Contact: Priya Nair, PRIYA.NAIR@MAIL.IN, phone 98450-12345.",
        {"name": "Priya Nair", "email": "priya.nair@mail.in", "phone": "9845012345"},
    ),
    (
        "Leo Martin (Leo.Martin@Shop.fr) answers on +33 6 12 34 56 78.",
        {"name": "Leo Martin", "email": "leo.martin@shop.fr", "phone": "33612345678"},
    ),
]
CONTACT_KEYS = {"name", "email", "phone"}


def contact_verdict(text: str, want: dict[str, str], got: Any) -> str | None:
    """None when ``got`` is exactly right, else what is wrong (format first).

    >>> contact_verdict("", CONTACT_CASES[1][1], {"name": "Jonas Berg", "email": "jonas@berg.de",
    ...     "phone": "030 1234 5678"})
    "phone '030 1234 5678' is not digits only (expected '03012345678')"
    """
    keys = "'name', 'email' and 'phone'"
    if not isinstance(got, dict):
        return f"expected a dict with keys {keys}, got {type(got).__name__} {got!r:.80}"
    if set(got) != CONTACT_KEYS:
        return f"expected exactly the keys {keys}, got keys {sorted(map(str, got))}"
    email, phone = got["email"], got["phone"]
    if not isinstance(email, str) or email != email.lower():
        return f"email {email!r} is not in lowercase (expected {want['email']!r})"
    if not isinstance(phone, str) or not phone.isdigit():
        return f"phone {phone!r} is not digits only (expected {want['phone']!r})"
    if got != want:
        return f"expected {want!r}, got {got!r}"
    return None
