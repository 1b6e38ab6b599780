"""The data of the families whose workflow calls the task model: standard library only.

(d) prompt tuning (``labels``, ``digits``, ``topics``) and (f) structured extraction
(``extract``, ``invoice``, ``contact``): their train/test sets, starting and hand-written
instructions, token limits, the starting and hand-written parsers, and the feedback texts. Both
sides of the comparison read them from here: the tracegraph families (``prompt_tasks``,
``extract_tasks``) and the Trace runner (``trace_runner.py``), which runs in Trace's own
virtual environment without our dependencies. The extraction cases and their checkers are in
``specs``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.quality import specs

# ------------------------------------------------------------------ (d) prompt tuning

POS = [
    "An absolute delight from start to finish.",
    "The battery lasts all day and charging is quick.",
    "Friendly staff and the food arrived hot.",
    "I would happily buy this again.",
    "Clear instructions, setup took five minutes.",
    "The best concert I have been to in years.",
    "Comfortable shoes, no blisters after a long walk.",
    "It works exactly as advertised.",
    "The hotel room was spotless and quiet.",
    "Great value for the price.",
]
NEG = [
    "The screen cracked after two days.",
    "Customer service never answered my emails.",
    "Cold soup and a rude waiter.",
    "It stopped working within a week.",
    "The plot was dull and far too long.",
    "Shipping took a month and the box was crushed.",
    "Way too loud, I returned it.",
    "The app crashes every time I open it.",
    "Uncomfortable seats and a blurry screen.",
    "A complete waste of money.",
]
LABEL_TRAIN = [(t, "POS") for t in POS[:4]] + [(t, "NEG") for t in NEG[:4]]
LABEL_TEST = [(t, "POS") for t in POS[4:]] + [(t, "NEG") for t in NEG[4:]]
LABEL_STARTS = [
    "Classify the sentiment of the review.",
    "What is the sentiment of this review?",
    "Read the review and tell whether the customer liked it.",
]
LABEL_HANDWRITTEN = (
    "Answer with exactly one word: POS if the review is positive, NEG if it is negative."
)
LABEL_TOKENS = 8

_PAIRS = [(37, 48), (52, 19), (66, 27), (14, 79), (83, 11), (45, 45), (28, 63), (71, 18)]
_PAIRS += [(39, 56), (22, 67), (58, 34), (91, 15), (17, 26), (64, 29), (33, 88), (76, 47)]
DIGIT_DATA = [(f"What is {a} + {b}?", str(a + b)) for a, b in _PAIRS]
DIGIT_TRAIN, DIGIT_TEST = DIGIT_DATA[:6], DIGIT_DATA[6:]
DIGIT_STARTS = [
    "You are a helpful assistant.",
    "Solve the math problem.",
    "Explain how to compute the answer.",
]
DIGIT_HANDWRITTEN = "Reply with only the resulting number, no words."
DIGIT_TOKENS = 24


# support-ticket routing with three exact labels: written after the optimizer was built (a
# held-out task of the family: the starts score 0, the hand-written instruction 0.67-0.78 on the
# test set, measured on the local 1.5B model)
BILLING = [
    "I was charged twice for my subscription this month.",
    "Can I get a refund for the order I cancelled?",
    "My invoice shows the wrong amount.",
    "Why did my card get declined at checkout?",
    "Please update the payment method on my account to a new card.",
    "The discount code was not applied to my bill.",
]
TECHNICAL = [
    "The app freezes whenever I upload a photo.",
    "I get error 500 when I log in.",
    "The printer driver will not install on Windows 11.",
    "Sync stopped working after the last update.",
    "The website shows a blank page in Firefox.",
    "My headphones disconnect from Bluetooth every few minutes.",
]
SHIPPING = [
    "My parcel has not arrived after three weeks.",
    "The tracking number says delivered but nothing came.",
    "Can you ship to an address in Canada?",
    "The courier left the box at the wrong house.",
    "How long does express delivery take?",
    "My package arrived damaged and wet.",
]
_TOPICS = (("BILLING", BILLING), ("TECHNICAL", TECHNICAL), ("SHIPPING", SHIPPING))
TOPIC_TRAIN = [(t, label) for label, texts in _TOPICS for t in texts[:3]]
TOPIC_TEST = [(t, label) for label, texts in _TOPICS for t in texts[3:]]
TOPIC_STARTS = [
    "Which team should handle this customer message?",
    "Route the support ticket.",
    "Read the message and say what it is about.",
]
TOPIC_HANDWRITTEN = (
    "Answer with exactly one word: BILLING (payments, charges, refunds), TECHNICAL (something "
    "does not work) or SHIPPING (delivery, parcels)."
)
TOPIC_TOKENS = 8


@dataclass(frozen=True)
class PromptData:
    """One prompt-tuning family: the instruction is trained, the task model answers each input."""

    train: list[tuple[str, str]]
    test: list[tuple[str, str]]
    starts: list[str]
    handwritten: str
    tokens: int  # max_tokens of a task-model call


PROMPTS: dict[str, PromptData] = {
    "labels": PromptData(LABEL_TRAIN, LABEL_TEST, LABEL_STARTS, LABEL_HANDWRITTEN, LABEL_TOKENS),
    "digits": PromptData(DIGIT_TRAIN, DIGIT_TEST, DIGIT_STARTS, DIGIT_HANDWRITTEN, DIGIT_TOKENS),
    "topics": PromptData(TOPIC_TRAIN, TOPIC_TEST, TOPIC_STARTS, TOPIC_HANDWRITTEN, TOPIC_TOKENS),
}


def answer_verdict(want: str, got: str) -> str | None:
    """None when the (stripped) reply is exactly the expected answer, else the feedback.

    >>> answer_verdict("POS", "POS"), answer_verdict("NEG", "negative")
    (None, "expected exactly 'NEG' (nothing else), got 'negative'")
    """
    if got == want:
        return None
    return f"expected exactly {want!r} (nothing else), got {got!r}"


# ------------------------------------------------------------ (f) structured extraction

EXTRACT_TOKENS = 60
Verdict = Callable[[str, dict[str, Any], Any], "str | None"]


@dataclass(frozen=True)
class ExtractData:
    """One extraction family: an instruction and a parser (its code) are trained together."""

    fn_name: str  # the parser's name
    doc: str  # its docstring, on one line
    cases: list[tuple[str, dict[str, Any]]]
    verdict: Verdict
    starts: list[str]
    handwritten: str
    tokens: int = EXTRACT_TOKENS
    normalize: str = ""  # lines the hand-written parser runs on the dict ``data`` it read

    @property
    def start_parser(self) -> str:
        """The starting parser: ``json.loads(reply)`` (the model fences its JSON)."""
        return f'def {self.fn_name}(reply):\n    """{self.doc}"""\n    return json.loads(reply)\n'

    @property
    def handwritten_parser(self) -> str:
        """The hand-written parser: JSON with the Markdown fence removed (then ``normalize``)."""
        head = (
            f'def {self.fn_name}(reply):\n    """{self.doc}"""\n'
            '    text = reply.strip().removeprefix("```json").removeprefix("```")'
            '.removesuffix("```")\n'
        )
        if not self.normalize:
            return head + "    return json.loads(text)\n"
        body = "".join(f"    {line}\n" for line in self.normalize.splitlines())
        return head + "    data = json.loads(text)\n" + body + "    return data\n"


def raised_feedback(fn_name: str, error: str, want: Any) -> str:
    """The feedback when the parser raised ``error`` (the exception's class name)."""
    return f"{fn_name} raised {error}; expected {want!r}"


EXTRACT = ExtractData(
    "parse_reply",
    'Turn the model\'s reply into a dict with the keys "name" and "date" (YYYY-MM-DD).',
    specs.EXTRACT_CASES,
    specs.extract_verdict,
    [
        "Find the person and the date in the text.",
        "Who is mentioned, and when?",
        "Summarize the text.",
    ],
    'Reply with a JSON object with the keys "name" (the person\'s full name) and "date" '
    "(the date as YYYY-MM-DD).",
)
INVOICE = ExtractData(
    "read_invoice",
    'The model\'s reply as a dict: "vendor", "total" (a number) and "currency" (3 letters).',
    specs.INVOICE_CASES,
    specs.invoice_verdict,
    [
        "Read the invoice text.",
        "What does this invoice say?",
        "Summarize the billing information.",
    ],
    'Reply with a JSON object with the keys "vendor" (the company), "total" (a number, no '
    'thousands separators) and "currency" (the 3-letter code).',
)
CONTACT = ExtractData(
    "read_contact",
    'The model\'s reply as a dict: "name", "email" (lowercase) and "phone" (digits only).',
    specs.CONTACT_CASES,
    specs.contact_verdict,
    [
        "Read the message.",
        "Who should we contact, and how?",
        "Summarize the contact details.",
    ],
    'Reply with a JSON object with the keys "name", "email" (in lowercase) and "phone" '
    "(digits only, no spaces or symbols).",
    normalize='data["email"] = data["email"].lower()\n'
    'data["phone"] = re.sub(r"\\D", "", data["phone"])',
)
EXTRACTS: dict[str, ExtractData] = {"extract": EXTRACT, "invoice": INVOICE, "contact": CONTACT}
