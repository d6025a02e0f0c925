"""facerep: unlabeled face images in, a universal facial representation out.

The library holds the science and the stage logic; orchestration (Prefect flows and
tasks, DVC) lives outside it and calls the stage functions by paths.
"""

__version__ = "0.1.0"
