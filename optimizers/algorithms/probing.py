"""Without a gate, the steps that need no model call: going back to the best values with
probes of the change that hurt, exploring from the best on a plateau, and a probe in place of
a proposal that changed nothing. The probes themselves are :mod:`optimizers.step.probes`;
this is where :class:`~optimizers.algorithms.memory.Memory` applies them and says so."""

from __future__ import annotations

from typing import Any

from optimizers.step.checks import numeric
from optimizers.step.direction import feedback_direction
from optimizers.step.gate import Gate, short_values, values_key
from optimizers.step.lines import BISECTION, count_gap, line_probes, widens_gap
from optimizers.step.probes import (
    LONGER,
    SCALE,
    Probe,
    after_worse,
    explorations,
    other_scales,
    untried_probe,
)
from optimizers.step.records import StepReport
from optimizers.step.replies import HistoryEntry, apply_updates, same_value
from tracegraph.node import Node

__all__ = ["NO_CALL", "Probing"]

NO_CALL = "a probe, no model call this step"


class Probing:
    """The probing half of :class:`~optimizers.algorithms.memory.Memory` (its state)."""

    params: list[Node]
    number_steps: bool
    gate: Gate | None
    patience: int | None
    history: list[HistoryEntry]
    steps: int
    stall: int
    best_score: float | None
    best_values: dict[str, Any] | None
    best_step: int
    probes: list[Probe]
    probe: Probe | None
    follow: Probe | None

    def values(self) -> dict[str, Any]:
        raise NotImplementedError

    def untried(self, params: list[Node]) -> dict[str, list[Any]]:
        raise NotImplementedError

    def _nothing_new(self, report: StepReport) -> bool:
        """The model's proposal changed nothing (values tried before, or the current ones): the
        step explores from the best values instead, as on a plateau (no gate). True: it did."""
        score = self.history[-1].score if self.history else None
        if self.gate is not None or self.best_values is None or score is None:
            return False
        if score < (self.best_score or score):  # not at the best: _back_to_best's to say
            return False
        if feedback_direction(self.history[-1].feedback) != 0:  # "too small": numbers steer
            return False
        why, lead = "the model proposed nothing new", "a probe in its place"
        probe = untried_probe(self.probes, [h.values for h in self.history])  # a queue first
        if probe is not None:
            return self._apply_probe(report, probe, why, lead)
        return self._explore(report, score, self.values(), why, lead)

    def _explore(
        self,
        report: StepReport,
        score: float,
        now: dict[str, Any],
        why: str = "",
        lead: str = NO_CALL,
    ) -> bool:
        """The values are the best and the score has not moved for steps (the model proposed
        them again): probes from them, each choice switched, then each number far."""
        assert self.best_values is not None
        tried = [h.values for h in self.history] + [now]
        self.probes = explorations(self.best_values, self.params, self.untried(self.params))
        probe = untried_probe(self.probes, tried)
        if probe is None and now != self.best_values and score == self.best_score:
            # nothing new around them, and the current values tie them: the best from now on
            self.probes = explorations(now, self.params, self.untried(self.params))
            probe = untried_probe(self.probes, tried)
            if probe is not None:
                self.best_values, self.best_step = dict(now), self.history[-1].step
        if probe is None:
            return False
        why = why or f"the score has stayed at {score:g} for {self.stall} steps at the best values"
        self.stall = max((self.patience or 1) - 1, 0)
        return self._apply_probe(report, probe, why, lead)

    def _back_to_best(self, report: StepReport) -> bool:
        """After ``patience`` steps without improvement, go back to the best values scored
        (not when the current values differ from them in one number only, with number steps
        on: a worse score there is evidence for its bracket, and going back would cut the
        growth of its step and its bisection short). Without a gate, the step applies a probe
        of the change that made it worse instead, and after a better probe the same move
        again (:mod:`optimizers.step.probes`). True: this step needs no model call."""
        last, follow, self.probe, self.follow = self.probe, self.follow, None, None
        if self.patience is None or self.best_values is None:
            return False
        tried = [h.values for h in self.history]
        if follow is not None and untried_probe([follow], tried) is not None:
            if not widens_gap(self.best_values, follow, self.params, self._gaps()):
                return self._apply_probe(report, follow, "it scored best so far")
            halves = line_probes(
                self.best_values,
                self.best_score or 0.0,
                self._scored(),
                self.params,
                None,
                self._gaps(),
            )
            probe = untried_probe(halves, tried)
            if probe is not None:
                why = "it scored best so far, and moving on that way widens the count gap"
                return self._apply_probe(report, probe, why)
        score = self.history[-1].score if self.history else None
        flat = last is not None and last["origin"] == LONGER and score == self.best_score
        if last is not None and (self.best_step == self.steps - 1 or flat):
            # the probe made a new best, or its longer move only tied (the line is flat there)
            probe = untried_probe(self.probes, tried)  # the rest of the queue, from the best
            if probe is not None:
                why = "the longer move only tied" if flat else "the last probe scored best so far"
                return self._apply_probe(report, probe, why)
        if self.stall < self.patience:
            return False
        now = self.values()
        if score is None or self.best_score is None:
            return False
        plateau = score == self.best_score and last is None and self.stall >= 2
        if score >= self.best_score and not (plateau and self.gate is None):
            return False
        nodes = {p.name: p for p in self.params}
        back = {
            nodes[k]: v
            for k, v in self.best_values.items()
            if k in nodes and not same_value(now[k], v)
        }
        if not back:  # at the best already: on a plateau, explore from it (no model call),
            # unless the feedback says which way to go ("too small": number steps steer)
            steered = feedback_direction(self.history[-1].feedback) != 0
            explore = plateau and self.gate is None and not steered
            return explore and self._explore(report, score, now)
        (lone,) = back if len(back) == 1 else (None,)
        steered = feedback_direction(self.history[-1].feedback) != 0  # "too small"
        if last is None and lone is not None and self.number_steps and numeric(lone) and steered:
            return False  # one number away from the best: its bracket and feedback steer it
        worse = f"the current values score {score:g}, below the best {self.best_score:g}"
        worse = f"the score has stayed at {score:g} for {self.stall} steps" if plateau else worse
        if self.gate is None:
            if last is None:  # the worse values came from a proposal: queue its probes
                untried = self.untried(self.params)
                self.probes = after_worse(self.best_values, now, self.params, untried, plateau)
            elif last["origin"] == LONGER:  # too far: shorter, before the rest of the queue
                self.probes = after_worse(self.best_values, now, self.params, {}) + self.probes
            else:  # a choice switched by a probe may need another scale of the rates
                low = min(h.score for h in self.history if h.score is not None)
                worst = [h.values for h in self.history if h.score == low]  # diverged there
                scored = {values_key(v): x for v, x in self._scored()}
                scales = other_scales(
                    self.best_values, now, self.params, [*tried, now], worst, scored
                )
                if SCALE in last["origin"] and score <= low:
                    scales = []  # a scale that scored the worst yet: not further that way
                self.probes = scales + self.probes
            probe = untried_probe(self.probes, [*tried, now])
            if probe is None and not plateau:  # line searches from the best
                bisected = lone.name if lone and last and BISECTION in last["origin"] else None
                halves = line_probes(
                    self.best_values,
                    self.best_score,
                    self._scored(),
                    self.params,
                    bisected,
                    self._gaps(),
                )
                probe = untried_probe(halves, [*tried, now])
            if probe is not None:
                self.stall = max(self.patience - 1, 0)
                return self._apply_probe(report, probe, worse)
            if plateau:  # nothing left to probe from the change: explore, else the model
                return self._explore(report, score, now)
        report.applied = apply_updates(back)
        report.notes.append(
            f"went back to the best values so far (scored {self.best_score:g} after step "
            f"{self.best_step}): the last {self.stall} steps did not improve on it and the "
            f"current values score {score:g}; no model call this step"
        )
        self.stall = max(self.patience - 1, 0)  # one more miss and it comes back here again
        return True

    def _scored(self) -> list[tuple[dict[str, Any], float]]:
        return [(h.values, h.score) for h in self.history if h.score is not None]

    def _gaps(self) -> list[tuple[dict[str, Any], float]]:
        """Value sets with the count gap their feedback states ("found 3, expected 5": -2)."""
        return [
            (h.values, float(g)) for h in self.history if (g := count_gap(h.feedback)) is not None
        ]

    def _apply_probe(self, report: StepReport, probe: Probe, why: str, lead: str = NO_CALL) -> bool:
        nodes = {p.name: p for p in self.params}
        now = self.values()
        updates = {
            nodes[k]: v
            for k, v in probe["values"].items()
            if k in nodes and not same_value(now[k], v)
        }
        report.applied = apply_updates(updates)
        self.probe = probe
        report.notes.append(
            f"{lead}: {why}; from the best values (after step "
            f"{self.best_step}), {probe['origin']} is tried: {short_values(probe['values'])}"
        )
        return True
