"""Prefect tasks: one per stage of `facerep.stages.STAGES` (tasks/stages.py), each over `run_stage`."""
