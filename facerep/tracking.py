"""The one place that talks to MLflow.

Every stage runs inside `stage_run`, which opens an MLflow run named after the stage, nested under
the flow's parent run when there is one (`FACEREP_PARENT_RUN_ID`, set by the Prefect flow), and
logs that stage's parameters. With `tracking.enabled: false` the tracker records nothing: that is
an explicit user choice, never a fallback for a broken store.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from facerep.lineage import DataInput, dvc_inputs
from facerep.params import Params, flatten

PARENT_RUN_ENV = "FACEREP_PARENT_RUN_ID"
SECRET_MARKERS = ("key", "secret", "token", "password")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def _public(flat: dict[str, Any]) -> dict[str, Any]:
    """Drop anything whose key looks like a secret: secrets never reach MLflow."""
    return {k: v for k, v in flat.items() if not any(m in k.lower() for m in SECRET_MARKERS)}


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics MLflow can store: NaN, infinities and None (an undefined metric) are left out."""
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}


def _param_values(params: dict[str, Any]) -> dict[str, str]:
    """Parameters as MLflow stores them: secrets dropped, values as text within MLflow's length limit."""
    return {k: str(v)[:6000] for k, v in _public(params).items()}


class Tracker:
    """A thin handle on the active MLflow run (or on nothing, when tracking is disabled)."""

    def __init__(self, run_id: str | None, uri: str | None = None) -> None:
        self.run_id, self.uri = run_id, uri

    @property
    def enabled(self) -> bool:
        return self.run_id is not None

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        if not self.enabled or not metrics:
            return
        import mlflow

        mlflow.log_metrics(_finite(metrics), step=step)

    def log_params(self, params: dict[str, Any]) -> None:
        if not self.enabled or not params:
            return
        import mlflow

        mlflow.log_params(_param_values(params))

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        if not self.enabled:
            return
        import mlflow

        p = Path(path)
        if p.is_dir():
            mlflow.log_artifacts(str(p), artifact_path=artifact_path or p.name)
        else:
            mlflow.log_artifact(str(p), artifact_path=artifact_path)

    def log_data_inputs(self, inputs: list[DataInput]) -> None:
        """Record each input's path and DVC hash as an MLflow dataset input of this run."""
        if not self.enabled:
            return
        import mlflow
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.sources import LocalArtifactDatasetSource

        for item in inputs:
            source = LocalArtifactDatasetSource(str(Path(item.path).resolve()))
            mlflow.log_input(MetaDataset(source, name=item.path, digest=item.md5[:36]), context="dvc")

    def register_backbone(self, path: str | Path, method: str, name: str = "facerep-backbone") -> None:
        """Log `backbone.pt` and register it as a new version of model `name` with alias `method`, so
        the MLflow UI lists every pre-trained backbone and `models:/facerep-backbone@swav` names the
        latest SwAV one."""
        if not self.enabled:
            return
        import mlflow
        from mlflow.exceptions import MlflowException

        mlflow.log_artifact(str(path), artifact_path="backbone")
        client = mlflow.MlflowClient()
        try:
            client.get_registered_model(name)
        except MlflowException:
            client.create_registered_model(name, description="facerep pre-trained backbones (backbone.pt)")
        version = client.create_model_version(
            name, source=mlflow.get_artifact_uri("backbone"), run_id=self.run_id, tags={"method": method}
        )
        client.set_registered_model_alias(name, method, version.version)

    def record_child(
        self, name: str, params: dict[str, Any], metrics: dict[str, float], tags: dict[str, str]
    ) -> None:
        """Record a finished sub-run (one finetune point) as an MLflow run nested under this one.

        Through `MlflowClient` with explicit run ids, not the fluent API, whose active run belongs to
        one thread: the Prefect flow records finetune points from concurrent task threads.
        """
        if not self.enabled:
            return
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param

        quiet_mlflow()  # a flow's worker process may record points without having run `configure`
        client = MlflowClient(tracking_uri=self.uri)
        experiment = client.get_run(self.run_id).info.experiment_id
        run = client.create_run(experiment, run_name=name, tags={"mlflow.parentRunId": self.run_id, **tags})
        now = int(time.time() * 1000)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, now, 0) for k, v in _finite(metrics).items()],
            params=[Param(k, v) for k, v in _param_values(params).items()],
        )
        client.set_terminated(run.info.run_id)

    def set_tags(self, tags: dict[str, str]) -> None:
        if not self.enabled:
            return
        import mlflow

        mlflow.set_tags(tags)


def adopt_parent(run_id: str | None) -> None:
    """Make `run_id` the parent of the stage runs this process opens from now on: a flow's task may
    run in another process (a Dask worker) that never saw the flow's `FACEREP_PARENT_RUN_ID`."""
    if run_id:
        os.environ[PARENT_RUN_ENV] = run_id


def store_uri(uri: str) -> str:
    """`uri` with a relative SQLite path made absolute against the working directory: MLflow caches
    its stores by URI, so `sqlite:///mlflow.db` would keep naming the first project's file in a
    process that later works in another directory."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/") and ":memory:" not in uri:
        return prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri


def quiet_mlflow() -> None:
    """Keep MLflow's INFO lines (store creation, system-metrics start and stop, "View run ... at")
    off the terminal, where each stage prints its own progress line; its warnings and errors still
    show. MLflow sets up its logger when imported, so this runs after the import. An explicit
    `MLFLOW_LOGGING_LEVEL` or `MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT` is the user's choice and kept."""
    if not os.environ.get("MLFLOW_LOGGING_LEVEL"):
        logging.getLogger("mlflow").setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def configure(params: Params) -> None:
    """Point MLflow at the configured store and experiment."""
    import mlflow

    quiet_mlflow()
    mlflow.set_tracking_uri(store_uri(params.tracking.uri))
    mlflow.set_experiment(params.tracking.experiment)


@contextlib.contextmanager
def stage_run(params: Params, stage: str, run_id: str | None = None) -> Iterator[Tracker]:
    """Open the MLflow run of one stage; `run_id` continues an earlier run (resumed pre-training).

    Under `torchrun` only rank 0 records: the other ranks get a tracker that records nothing.
    """
    if not params.tracking.enabled or int(os.environ.get("RANK", "0")) != 0:
        yield Tracker(None)
        return
    import mlflow

    configure(params)
    parent = os.environ.get(PARENT_RUN_ENV)
    tags = {"facerep.stage": stage}
    if parent:
        tags["mlflow.parentRunId"] = parent
    commit = _git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    nested = mlflow.active_run() is not None
    with mlflow.start_run(
        run_id=run_id,
        run_name=None if run_id else stage,
        tags=None if run_id else tags,
        nested=nested,
        log_system_metrics=params.tracking.system_metrics,
    ) as run:
        tracker = Tracker(run.info.run_id, store_uri(params.tracking.uri))
        if run_id is None:
            doc = params.model_dump(mode="json")
            stage_params = {"seed": doc["seed"], **flatten(doc.get(stage, {}), f"{stage}.")}
            tracker.log_params(stage_params)
            tracker.log_data_inputs(dvc_inputs(stage))
        yield tracker


@contextlib.contextmanager
def pipeline_run(params: Params, name: str) -> Iterator[Tracker]:
    """Open the parent run of a whole pipeline run; stages started inside it (in this process or in
    subprocesses such as `dvc repro`, through `FACEREP_PARENT_RUN_ID`) become its nested runs."""
    if not params.tracking.enabled:
        yield Tracker(None)
        return
    import mlflow

    configure(params)
    tags = {"facerep.pipeline": name}
    commit = _git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    previous = os.environ.get(PARENT_RUN_ENV)
    with mlflow.start_run(run_name=name, tags=tags) as run:
        tracker = Tracker(run.info.run_id)
        paths = flatten(params.model_dump(mode="json")["paths"], "paths.")
        tracker.log_params({"seed": params.seed, **paths})
        os.environ[PARENT_RUN_ENV] = run.info.run_id
        try:
            yield tracker
        finally:
            if previous is None:
                os.environ.pop(PARENT_RUN_ENV, None)
            else:
                os.environ[PARENT_RUN_ENV] = previous
