"""Prefect task of the curate stage."""

from tasks.common import stage_task

curate = stage_task("curate")
