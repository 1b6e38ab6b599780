"""Issue 10, 7(b): a step's trace picture shows the parameter values its outputs were computed
with (taken right after backward), not the values the step then accepted."""

from __future__ import annotations

import json
from pathlib import Path

import tracegraph as tg
from optimizers import GraphOptimizer, ScriptedClient, Trainer
from optimizers.trainer import score_fn


@tg.op
def scale(v: float, k: float) -> float:
    """Multiply v by k."""
    return v * k


def test_an_accepted_step_draws_the_values_its_outputs_came_from(tmp_path: Path) -> None:
    x = tg.param(0.0, name="x", description="the number to find")
    reply = json.dumps({"reasoning": "scripted", "updates": {"x": 5.0}})
    trainer = Trainer(
        lambda k: scale(x, k),
        GraphOptimizer([x], llm=ScriptedClient([reply])),
        train=[(2.0, 10.0)],
        feedback=score_fn(lambda out, want: -abs(out - want)),
        batch_size=1, max_steps=1, patience=None, quiet=True, run_dir=tmp_path / "run",
    )  # fmt: skip
    assert trainer.fit().best_params == {"x": 5.0}
    step = tmp_path / "run" / "steps" / "000001"
    assert json.loads((step / "step.json").read_text())["accepted"]
    nodes = {n["name"]: n for n in json.loads((step / "trace.json").read_text())["nodes"]}
    assert nodes["x"]["value"] == "0.0"  # not the accepted 5.0
    output = next(n for n in nodes.values() if n["kind"] == "call")
    assert output["value"] == "0.0"  # 0.0 * 2.0: computed with the drawn value
    dot = (step / "trace.dot").read_text()
    assert 'label="x\\nparameter[number]\\n0.0"' in dot and "5.0" not in dot
