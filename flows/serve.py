"""Serve both flows as deployments (`pretrain-and-eval/default`, `build-dataset/default`).

With a Prefect server running (`prefect server start --host 127.0.0.1`) and
`PREFECT_API_URL=http://127.0.0.1:4200/api`, keep this running and in another shell:
`prefect deployment run 'pretrain-and-eval/default'`.
"""

from __future__ import annotations

from prefect import serve

from flows.build_dataset import build_dataset
from flows.pretrain_and_eval import pretrain_and_eval

if __name__ == "__main__":
    serve(
        pretrain_and_eval.to_deployment(name="default"),
        build_dataset.to_deployment(name="default"),
    )
