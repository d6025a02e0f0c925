"""Prefect task of the shard stage."""

from tasks.common import stage_task

shard = stage_task("shard")
