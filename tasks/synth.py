"""Prefect task of the synth stage."""

from tasks.common import stage_task

synth = stage_task("synth")
