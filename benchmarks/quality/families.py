"""The registry of task families: ``FAMILIES[name].make(seed, student) -> Task``."""

from __future__ import annotations

from benchmarks.quality.code_tasks import CODE, CODE_MORE
from benchmarks.quality.extract_tasks import CONTACT, EXTRACT, INVOICE
from benchmarks.quality.heldout_tasks import CODE_B, NUMBER_B, PIPELINE, TRAINING_B
from benchmarks.quality.numeric_tasks import NUMBER, RETRIEVAL, TRAINING
from benchmarks.quality.prompt_tasks import DIGITS, LABELS, TOPICS
from benchmarks.quality.task import Family

# in the order the suite runs them (cheapest first: no task-model calls)
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        *(NUMBER, TRAINING, CODE, CODE_MORE, RETRIEVAL, EXTRACT, INVOICE, LABELS, DIGITS),
        # held out: written after the optimizer was tuned, to check that it carries over
        *(NUMBER_B, TRAINING_B, PIPELINE, CODE_B, CONTACT, TOPICS),
    )
}
