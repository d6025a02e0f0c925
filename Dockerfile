# facerep on a GPU: the same install as the README (`make venv`), on a CUDA runtime base.
# Build: docker build -t facerep .   Run: docker run --gpus all -v $PWD/data:/facerep/data facerep demo
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    PIP_NO_CACHE_DIR=1

# Python 3.11 (the oldest supported; Ubuntu 22.04 has 3.10) from deadsnakes; ffmpeg comes with PyAV's wheel.
RUN apt-get update \
    && apt-get install -y --no-install-recommends software-properties-common gpg-agent make git \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /facerep
COPY pyproject.toml requirements-lock.txt Makefile README.md ./
COPY tools/opencv-alias ./tools/opencv-alias
COPY facerep ./facerep
COPY flows ./flows
COPY tasks ./tasks
RUN make venv PYTHON=python3.11

COPY . .
ENV PATH="/facerep/.venv/bin:${PATH}"
ENTRYPOINT ["facerep"]
CMD ["demo"]
