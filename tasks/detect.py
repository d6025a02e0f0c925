"""Prefect task of the detect stage."""

from tasks.common import stage_task

detect = stage_task("detect")
