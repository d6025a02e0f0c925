"""The one place that talks to MLflow.

Every stage runs inside `stage_run`, which opens an MLflow run named after the stage, nested under
a parent run when there is one, and logs that stage's parameters. The parent is the flow's or the
demo's pipeline run (`FACEREP_PARENT_RUN_ID`), or, for stages that `dvc exp run` starts one process
at a time, a run named after the DVC experiment, shared by all of them. With `tracking.enabled: false`
the tracker records nothing: that is an explicit user choice, never a fallback for a broken store.

A `Tracker` writes through `MlflowClient` with its own run id rather than MLflow's fluent API, whose
active run belongs to one thread: the Prefect flow records finetune points from concurrent threads.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facerep.lineage import DataInput, dvc_inputs
from facerep.params import TRACKING_URI_ENV, Params, flatten

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from torch import nn

PARENT_RUN_ENV = "FACEREP_PARENT_RUN_ID"
DVC_EXPERIMENT_ENV = "DVC_EXP_NAME"  # set by `dvc exp run` for every stage command it runs
DVC_BASELINE_ENV = "DVC_EXP_BASELINE_REV"
SECRET_MARKERS = ("key", "secret", "token", "password")
BACKBONE_MODEL = "facerep-backbone"


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


def _now_ms() -> int:
    return int(time.time() * 1000)


class Tracker:
    """A handle on one MLflow run (or on nothing, when tracking is disabled).

    `on_step(step)` is told each time the stage logs metrics at a step (pre-training's optimiser
    step, detection's images done), whether or not tracking is on: the Prefect tasks turn it into
    progress artifacts and log lines.
    """

    def __init__(
        self, run_id: str | None, uri: str | None = None, on_step: Callable[[int], None] | None = None
    ) -> None:
        self.run_id, self.uri, self.on_step = run_id, uri, on_step

    @property
    def enabled(self) -> bool:
        return self.run_id is not None

    @cached_property
    def client(self) -> MlflowClient:
        from mlflow import MlflowClient

        quiet_mlflow()  # a flow's worker process may record without having run `configure`
        return MlflowClient(tracking_uri=self.uri)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        if step is not None and self.on_step is not None:
            self.on_step(step)
        if not self.enabled or not metrics:
            return
        from mlflow.entities import Metric

        now = _now_ms()
        batch = [Metric(k, v, now, step or 0) for k, v in _finite(metrics).items()]
        self.client.log_batch(self.run_id, metrics=batch)

    def log_params(self, params: dict[str, Any]) -> None:
        if not self.enabled or not params:
            return
        from mlflow.entities import Param

        batch = [Param(k, v) for k, v in _param_values(params).items()]
        for i in range(0, len(batch), 100):  # MLflow takes at most 100 parameters per batch
            self.client.log_batch(self.run_id, params=batch[i : i + 100])

    def set_tags(self, tags: dict[str, str]) -> None:
        if not self.enabled:
            return
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        if not self.enabled:
            return
        p = Path(path)
        if p.is_dir():
            self.client.log_artifacts(self.run_id, str(p), artifact_path=artifact_path or p.name)
        else:
            self.client.log_artifact(self.run_id, str(p), artifact_path=artifact_path)

    def log_data_inputs(self, inputs: list[DataInput]) -> None:
        """Record each input's path and DVC hash as an MLflow dataset input of this run (the active
        run: `stage_run` calls this as it opens the run)."""
        if not self.enabled:
            return
        import mlflow
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.sources import LocalArtifactDatasetSource

        for item in inputs:
            source = LocalArtifactDatasetSource(str(Path(item.path).resolve()))
            mlflow.log_input(MetaDataset(source, name=item.path, digest=item.md5[:36]), context="dvc")

    def register_backbone(self, backbone: nn.Module, method: str, image_size: int) -> str | None:
        """Log `backbone` as an MLflow PyTorch model of this run (its signature: an image batch
        (B, 3, `image_size`, `image_size`) float32 in, pooled features (B, D) out; an input example) and
        register it as a new version of `facerep-backbone` with alias `method`, so that
        `mlflow.pytorch.load_model("models:/facerep-backbone@swav")` gives the latest SwAV backbone.
        Returns the version registered."""
        if not self.enabled:
            return None
        import mlflow
        import numpy as np
        import torch
        from mlflow.exceptions import MlflowException
        from mlflow.models import infer_signature

        active = mlflow.active_run()
        if active is None or active.info.run_id != self.run_id:  # log_model writes to the active run
            raise RuntimeError("register_backbone runs inside its stage's run (facerep.tracking.stage_run)")
        example = np.random.default_rng(0).random((2, 3, image_size, image_size), dtype=np.float32)
        backbone = backbone.eval()
        with torch.no_grad():
            features = backbone(torch.from_numpy(example)).numpy()
        # Saved as a traced graph (torch.export, "pt2"): loading it runs no pickled code and needs
        # torch alone, not facerep. The pin is the torch it was exported with.
        info = mlflow.pytorch.log_model(
            backbone,
            name="backbone",
            signature=infer_signature(example, features),
            input_example=example,
            serialization_format="pt2",
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
            tags={"method": method},
        )
        # Registered through the client, which (unlike `registered_model_name`) prints nothing.
        try:
            self.client.create_registered_model(BACKBONE_MODEL, description="facerep pre-trained backbones")
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = self.client.create_model_version(
            BACKBONE_MODEL, info.model_uri, self.run_id, tags={"method": method}, model_id=info.model_id
        ).version
        self.client.set_registered_model_alias(BACKBONE_MODEL, method, version)
        return version

    def ui_url(self) -> str | None:
        """This run's page in the MLflow UI: on the tracking server, or for a local store where
        `mlflow ui --backend-store-uri <store>` serves it by default."""
        if not self.enabled:
            return None
        remote = (self.uri or "").startswith(("http://", "https://"))
        base = self.uri.rstrip("/") if remote else "http://127.0.0.1:5000"
        experiment = self.client.get_run(self.run_id).info.experiment_id
        return f"{base}/#/experiments/{experiment}/runs/{self.run_id}"

    @contextlib.contextmanager
    def child_run(self, name: str, tags: dict[str, str]) -> Iterator[Tracker]:
        """A run nested under this one, open while the block runs (so MLflow shows its true start,
        duration and, when the block raises, FAILED); a disabled tracker yields a disabled child."""
        if not self.enabled:
            yield Tracker(None, on_step=self.on_step)
            return
        experiment = self.client.get_run(self.run_id).info.experiment_id
        run = self.client.create_run(
            experiment, run_name=name, tags={"mlflow.parentRunId": self.run_id, **tags}
        )
        child = Tracker(run.info.run_id, self.uri)
        try:
            yield child
        except BaseException:
            self.client.set_terminated(child.run_id, "FAILED", _now_ms())
            raise
        self.client.set_terminated(child.run_id, "FINISHED", _now_ms())


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


def tracking_uri(params: Params) -> str:
    """The store this project's runs go to: `tracking.uri`, else `$MLFLOW_TRACKING_URI`, else the
    project's `mlflow.db` (made absolute)."""
    return store_uri(params.tracking.resolved_uri())


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
    users_uri = os.environ.get(TRACKING_URI_ENV)
    mlflow.set_tracking_uri(tracking_uri(params))
    # MLflow also exports the URI as $MLFLOW_TRACKING_URI for child processes; left there, the next
    # project configured in this process (`tracking.uri: null`) would take the first one's store for
    # the user's choice. Our child processes configure themselves from their params.
    if users_uri is None:
        os.environ.pop(TRACKING_URI_ENV, None)
    else:
        os.environ[TRACKING_URI_ENV] = users_uri
    mlflow.set_experiment(params.tracking.experiment)


def _run_tags(extra: dict[str, str]) -> dict[str, str]:
    commit = _git_commit()
    return {**extra, **({"mlflow.source.git.commit": commit} if commit else {})}


def dvc_experiment_parent(params: Params) -> str | None:
    """Under `dvc exp run`, the run named after the experiment that holds its stages' runs: found by
    its tags (experiment name and baseline commit) or created by the first stage. Each stage moves
    its end time, so its duration spans the experiment. None outside a DVC experiment."""
    name = os.environ.get(DVC_EXPERIMENT_ENV)
    if not name:
        return None
    import mlflow

    baseline = os.environ.get(DVC_BASELINE_ENV, "")
    client = mlflow.MlflowClient(tracking_uri(params))
    experiment = mlflow.get_experiment_by_name(params.tracking.experiment).experiment_id
    tags = {"facerep.dvc.experiment": name, "facerep.dvc.baseline": baseline}
    # by the baseline (a commit hash) in the query, by the name (free text) here
    same_baseline = client.search_runs([experiment], f"tags.`facerep.dvc.baseline` = '{baseline}'")
    for run in same_baseline:
        if run.data.tags.get("facerep.dvc.experiment") == name:
            return run.info.run_id
    tags = {"facerep.pipeline": "dvc-exp", **tags}
    return client.create_run(experiment, run_name=name, tags=_run_tags(tags)).info.run_id


@contextlib.contextmanager
def stage_run(
    params: Params, stage: str, run_id: str | None = None, on_step: Callable[[int], None] | None = None
) -> Iterator[Tracker]:
    """Open the MLflow run of one stage; `run_id` continues an earlier run (resumed pre-training).

    Under `torchrun` only rank 0 records: the other ranks get a tracker that records nothing.
    """
    if not params.tracking.enabled or int(os.environ.get("RANK", "0")) != 0:
        yield Tracker(None, on_step=on_step)
        return
    import mlflow

    configure(params)
    dvc_parent = None if os.environ.get(PARENT_RUN_ENV) else dvc_experiment_parent(params)
    parent = os.environ.get(PARENT_RUN_ENV) or dvc_parent
    tags = {"facerep.stage": stage, **({"mlflow.parentRunId": parent} if parent else {})}
    nested = mlflow.active_run() is not None
    with mlflow.start_run(
        run_id=run_id,
        run_name=None if run_id else stage,
        tags=None if run_id else _run_tags(tags),
        nested=nested,
        log_system_metrics=params.tracking.system_metrics,
    ) as run:
        tracker = Tracker(run.info.run_id, tracking_uri(params), on_step)
        if run_id is None:
            doc = params.model_dump(mode="json")
            stage_params = {"seed": doc["seed"], **flatten(doc.get(stage, {}), f"{stage}.")}
            tracker.log_params(stage_params)
            tracker.log_data_inputs(dvc_inputs(stage))
        yield tracker
    if dvc_parent:  # the DVC experiment's run lasts until its last stage
        tracker.client.set_terminated(dvc_parent, "FINISHED", _now_ms())


@contextlib.contextmanager
def pipeline_run(params: Params, name: str) -> Iterator[Tracker]:
    """Open the parent run of a whole pipeline run; stages started inside it (in this process or in
    subprocesses such as `dvc repro`, through `FACEREP_PARENT_RUN_ID`) become its nested runs."""
    if not params.tracking.enabled:
        yield Tracker(None)
        return
    import mlflow

    configure(params)
    previous = os.environ.get(PARENT_RUN_ENV)
    with mlflow.start_run(run_name=name, tags=_run_tags({"facerep.pipeline": name})) as run:
        tracker = Tracker(run.info.run_id, tracking_uri(params))
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
