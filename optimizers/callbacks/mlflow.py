"""Log a training run to MLflow: the run's settings, per-step metrics, the best parameters.

Needs the ``mlflow`` extra (``pip install "tracegraph[mlflow]"``: MLflow's client, and
SQLAlchemy for a ``sqlite:///`` store). One training run is one MLflow run; its id is kept in
``RUN_DIR/mlflow.json`` so that ``fit(resume=True)`` continues the same MLflow run, and the
steps committed while no callback could log them are logged from the run directory.

What is logged:

- params: the trainer's configuration (``run.json``'s ``config``), the optimizer, the workflow
  and the names of the trained parameters;
- metrics at each step (step 0 is the baseline): ``train_score``, ``val_score``,
  ``best_score``, ``accepted`` and this step's ``calls``, ``tokens``, ``cost`` (and totals);
- artifacts at the end: ``best_params.json``, ``result.json`` and, with a run directory,
  ``report.html`` (the run's HTML report);
- tags: ``tracegraph.status`` and ``tracegraph.reason`` (how the run ended).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizers.callbacks.callback import Callback, StepScores, scores_of
from optimizers.trainer.journal import usage_from_dict

if TYPE_CHECKING:
    from optimizers.algorithms.optimizer import StepReport
    from optimizers.trainer.state import FitResult
    from optimizers.trainer.trainer import Trainer

__all__ = ["MLflowCallback"]

ID_FILE = "mlflow.json"
_MAX_PARAM = 500  # MLflow limits a param value's length; ours are short settings


def _client(tracking_uri: str | None) -> Any:
    try:
        import mlflow
    except ImportError as exc:  # the extra is not installed
        raise ImportError(
            'MLflowCallback needs MLflow. Fix: pip install "tracegraph[mlflow]"'
        ) from exc
    uri = tracking_uri or mlflow.get_tracking_uri()
    return mlflow.MlflowClient(tracking_uri=uri), uri


def _flat(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        text = value if isinstance(value, str) else json.dumps(value, default=repr)
        out[prefix] = text[:_MAX_PARAM]


class MLflowCallback(Callback):
    """Logs each training run as one MLflow run (see the module docstring for what is logged).

    Args:
        tracking_uri: where MLflow keeps runs (``sqlite:///mlflow.db``, ``http://host:5000``,
            ...); None: MLflow's own default (``MLFLOW_TRACKING_URI`` or its local store).
        experiment: the experiment's name (created when missing); None: MLflow's default.
        run_name: the MLflow run's name; default: the run directory's name.
        artifact_location: where a *new* experiment stores artifacts (MLflow's default else).

    After the run, ``run_id`` is the MLflow run's id.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment: str | None = None,
        *,
        run_name: str | None = None,
        artifact_location: str | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.run_name = run_name
        self.artifact_location = artifact_location
        self.run_id: str | None = None
        self._client: Any = None
        self._uri = ""
        self._last_step = -1

    # -- the run id kept in the run directory -------------------------------------------------
    def _id_path(self, trainer: Trainer) -> Path | None:
        return trainer.rundir.path / ID_FILE if trainer.rundir is not None else None

    def _save_id(self, trainer: Trainer, uri: str) -> None:
        path = self._id_path(trainer)
        if path is not None:
            data = {"run_id": self.run_id, "tracking_uri": uri, "last_step": self._last_step}
            path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    def _stored(self, trainer: Trainer) -> dict[str, Any]:
        path = self._id_path(trainer)
        if path is None or not path.is_file():
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}

    # -- callbacks ------------------------------------------------------------------------------
    def on_run_start(self, trainer: Trainer, *, resumed: bool) -> None:
        stored = self._stored(trainer) if resumed else {}
        self._client, uri = _client(self.tracking_uri or stored.get("tracking_uri"))
        if stored.get("run_id"):
            self.run_id = str(stored["run_id"])
            self._last_step = int(stored.get("last_step", -1))
            self._client.update_run(self.run_id, status="RUNNING")
            self._backfill(trainer)
        else:
            self._create(trainer)
        self._save_id(trainer, uri)
        self._uri = uri

    def _create(self, trainer: Trainer) -> None:
        experiment_id = "0"
        if self.experiment is not None:
            found = self._client.get_experiment_by_name(self.experiment)
            experiment_id = (
                found.experiment_id
                if found is not None
                else self._client.create_experiment(self.experiment, self.artifact_location)
            )
        name = self.run_name or (trainer.rundir.path.name if trainer.rundir else None)
        run = self._client.create_run(experiment_id, run_name=name, tags={"tracegraph": "1"})
        self.run_id = run.info.run_id
        params: dict[str, str] = {}
        _flat("", trainer.config(), params)
        params["optimizer"] = type(trainer.optimizer).__name__
        params["workflow"] = getattr(trainer.workflow, "__qualname__", repr(trainer.workflow))
        params["params"] = ", ".join(trainer.values())[:_MAX_PARAM]
        if trainer.rundir is not None:
            params["run_dir"] = str(trainer.rundir.path)[:_MAX_PARAM]
        from mlflow.entities import Param

        self._client.log_batch(self.run_id, params=[Param(k, v) for k, v in params.items()])

    def _backfill(self, trainer: Trainer) -> None:
        """Log the committed steps that no callback logged (the run stopped before it could)."""
        if trainer.rundir is None:
            return
        for files in trainer.rundir.iter_steps():
            if files.step > self._last_step:
                record = files.record
                usage = usage_from_dict(record.get("usage") or {})
                total = usage_from_dict(record.get("total_usage") or {})
                self._log(scores_of(files.step, record, None, usage, total))

    def on_step_end(self, trainer: Trainer, report: StepReport | None, scores: StepScores) -> None:
        self._log(scores)
        if trainer.rundir is not None:
            self._save_id(trainer, self._uri)

    def _log(self, scores: StepScores) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, scores.step) for k, v in scores.metrics().items()]
        self._client.log_batch(self.run_id, metrics=metrics)
        self._last_step = max(self._last_step, scores.step)

    def on_run_end(self, trainer: Trainer, result: FitResult) -> None:
        client, run_id = self._client, self.run_id
        client.log_dict(run_id, result.best_params, "best_params.json")
        summary = {
            "status": result.status,
            "reason": result.reason,
            "steps": result.steps,
            "best_step": result.best_step,
            "best_score": result.best_score,
            "usage": vars(result.usage),
        }
        client.log_text(run_id, json.dumps(summary, indent=2, default=repr), "result.json")
        if trainer.rundir is not None:
            from optimizers.trainer.report import write_report

            client.log_artifact(run_id, str(write_report(trainer.rundir)))
        client.set_tag(run_id, "tracegraph.status", result.status)
        client.set_tag(run_id, "tracegraph.reason", result.reason[:_MAX_PARAM])
        client.set_terminated(run_id, "FINISHED")
