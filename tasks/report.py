"""Prefect task of the report stage."""

from tasks.common import stage_task

report = stage_task("report")
