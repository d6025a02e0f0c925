"""Serve both flows as deployments (`pretrain-and-eval/default`, `build-dataset/default`).

With a Prefect server running (`prefect server start --host 127.0.0.1`) and
`PREFECT_API_URL=http://127.0.0.1:4200/api`, keep this running and in another shell:
`prefect deployment run 'pretrain-and-eval/default'`. Each deployment runs one flow run at a time
(`concurrency_limit` 1; further runs wait their turn): runs of one workspace write the same `data/`.
"""

from __future__ import annotations

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

from flows.build_dataset import build_dataset
from flows.pretrain_and_eval import pretrain_and_eval

ONE_AT_A_TIME = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)

if __name__ == "__main__":
    serve(
        pretrain_and_eval.to_deployment(name="default", concurrency_limit=ONE_AT_A_TIME),
        build_dataset.to_deployment(name="default", concurrency_limit=ONE_AT_A_TIME),
    )
