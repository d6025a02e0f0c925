"""The `build-dataset` flow: the data stages alone (synth, harvest, detect, curate, shard)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from facerep.pipeline import DATA_STAGES
from flows.stages import run_stages


@flow(name="build-dataset")
def build_dataset(
    params_file: str = "pipeline_params.yaml",
    overrides: list[str] | None = None,
    stages: list[str] | None = None,
    record_dvc: bool | None = None,
) -> dict[str, Any]:
    """Build the pre-training shards from raw data; same parameters as `pretrain-and-eval`."""
    return run_stages("build-dataset", DATA_STAGES, params_file, overrides, stages, record_dvc)


if __name__ == "__main__":
    build_dataset()
