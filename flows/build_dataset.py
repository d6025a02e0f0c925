"""The `build-dataset` flow: the data stages alone (synth, harvest, detect, curate, shard)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from facerep.params import DEFAULT_PARAMS_FILE, Params
from facerep.stages import DATA_STAGES
from flows.stages import StageName, run_flow


@flow(name="build-dataset")
def build_dataset(
    params: Params | None = None,
    params_file: str = DEFAULT_PARAMS_FILE,
    stages: list[StageName] | None = None,
    record_dvc: bool | None = None,
) -> dict[str, Any]:
    """Build the pre-training shards from raw data; same parameters as `pretrain-and-eval`."""
    return run_flow("build-dataset", stages or DATA_STAGES, params, params_file, record_dvc)


if __name__ == "__main__":
    build_dataset()
