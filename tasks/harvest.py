"""Prefect task of the harvest stage: network work, so retried with backoff."""

from tasks.common import stage_task

harvest = stage_task("harvest", retries=3, retry_delay_seconds=[10, 60, 300])
