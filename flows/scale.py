"""Run a flow's tasks on a Dask cluster (prefect-dask) when one machine is not enough.

`on_dask(build_dataset, address="tcp://scheduler:8786")` returns the same flow with its tasks
submitted to that cluster; without an address a local cluster of `n_workers` processes is started
on the loopback interface. The stage functions read and write paths, so the workers must share the
file system (or use fsspec URLs for shards and checkpoints). Stages start processes of their own
(DataLoader workers), which daemonic processes may not: the local cluster's workers are not daemons,
and a cluster of your own needs `distributed.worker.daemon: false` in its Dask configuration too.
"""

from __future__ import annotations

import dask
from prefect import Flow
from prefect_dask import DaskTaskRunner


def on_dask(flow: Flow, address: str | None = None, n_workers: int = 2) -> Flow:
    """`flow` with a DaskTaskRunner: an existing scheduler at `address`, or a local loopback cluster."""
    if address:
        runner = DaskTaskRunner(address=address)
    else:
        dask.config.set({"distributed.worker.daemon": False})  # read when the cluster starts its workers
        runner = DaskTaskRunner(
            cluster_kwargs={"n_workers": n_workers, "threads_per_worker": 1, "host": "127.0.0.1"}
        )
    return flow.with_options(task_runner=runner)
