"""Prefect task of the pretrain stage."""

from tasks.common import stage_task

pretrain = stage_task("pretrain")
