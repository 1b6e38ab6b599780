"""MLflowCallback against a real MLflow store (sqlite in a temp dir), read back with MLflow's
own client: params, per-step metrics, artifacts, one MLflow run across a resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from optimizers import Budget, ScriptedClient, StepReport
from optimizers.callbacks import CallbackWarning, StepScores
from optimizers.callbacks.mlflow import MLflowCallback
from tests.optimizers.trainer.tasks import numeric_task, updates

mlflow = pytest.importorskip("mlflow", reason="needs the [mlflow] extra")
# MLflow's own SQLAlchemy store uses a loader strategy SQLAlchemy deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy")


class FlakyMLflow(MLflowCallback):
    """Loses step 2 (as when the process dies between the commit and the logging)."""

    def on_step_end(self, trainer: Any, report: StepReport | None, scores: StepScores) -> None:
        if scores.step == 2:
            raise ConnectionError("tracking server unreachable")
        super().on_step_end(trainer, report, scores)


def _history(client: Any, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_a_run_and_its_resume_are_one_mlflow_run(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = {"tracking_uri": uri, "experiment": "tg-test"}
    artifacts = (tmp_path / "artifacts").as_uri()
    first = FlakyMLflow(**settings, artifact_location=artifacts)
    llm = ScriptedClient([updates({"x": v}) for v in (3.0, 5.0)])
    run = tmp_path / "run"
    with pytest.warns(CallbackWarning, match="tracking server unreachable"):
        result = numeric_task(llm, run_dir=run, budget=Budget(max_calls=2), callbacks=[first]).fit()
    assert result.status == "budget"

    client = mlflow.MlflowClient(tracking_uri=uri)
    (exp,) = [e for e in client.search_experiments() if e.name == "tg-test"]
    runs = client.search_runs([exp.experiment_id])
    assert [r.info.run_id for r in runs] == [first.run_id]
    params = runs[0].data.params
    assert params["batch_size"] == "1" and params["optimizer"] == "GraphOptimizer"
    assert params["params"] == "x" and params["run_dir"] == str(run)
    assert runs[0].data.tags["tracegraph.status"] == "budget"
    assert [s for s, _ in _history(client, first.run_id, "val_score")] == [0, 1]  # 2 was lost

    # Resume with a fresh callback: same MLflow run, step 2 logged from the run directory.
    llm2 = ScriptedClient([updates({"x": v}) for v in (4.0, 6.0)])
    second = MLflowCallback(**settings)
    again = numeric_task(llm2, run_dir=run, budget=Budget(max_calls=4), callbacks=[second])
    result2 = again.fit(resume=True)
    assert second.run_id == first.run_id
    assert len(client.search_runs([exp.experiment_id])) == 1
    steps = [json.loads((run / "steps" / f"{k:06d}" / "step.json").read_text()) for k in range(5)]
    assert _history(client, first.run_id, "val_score") == [(k, r["val_score"]) for k, r in
                                                           enumerate(steps)]  # fmt: skip
    assert _history(client, first.run_id, "best_score")[-1] == (4, result2.best_score)
    assert [v for _, v in _history(client, first.run_id, "calls")] == [0, 1, 1, 1, 1]
    assert _history(client, first.run_id, "total_calls")[-1] == (4, 4.0)

    finished = client.get_run(first.run_id)
    assert finished.info.status == "FINISHED"
    names = {a.path for a in client.list_artifacts(first.run_id)}
    assert {"best_params.json", "result.json", "report.html"} <= names
    local = mlflow.artifacts.download_artifacts(
        run_id=first.run_id, artifact_path="best_params.json", tracking_uri=uri,
        dst_path=str(tmp_path / "down"),
    )  # fmt: skip
    assert json.loads(Path(local).read_text()) == result2.best_params == {"x": 5.0}


def test_without_mlflow_installed_the_error_says_which_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    from optimizers.callbacks import mlflow as module

    with pytest.raises(ImportError, match=r"tracegraph\[mlflow\]"):
        module._client(None)
