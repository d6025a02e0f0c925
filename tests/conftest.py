"""Shared test settings: headless plotting, a roomy Prefect start-up limit, no stray MLflow store."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
