"""Prefect tasks: one thin module per stage, each a wrapper over `facerep.stages.run_stage`."""
