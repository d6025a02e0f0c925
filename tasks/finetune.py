"""Prefect task of the finetune stage."""

from tasks.common import stage_task

finetune = stage_task("finetune")
