"""Prefect flows: `pretrain-and-eval` (the whole pipeline) and `build-dataset` (data stages)."""
