# The README's two commands: `make demo` and `make test`. Both create .venv/ when it is missing.
# Python 3.11, 3.12 and 3.13 are supported: the newest of python3.13, python3.12, python3.11 on PATH that
# runs (a pyenv shim for a version not selected does not), else python3; `make PYTHON=python3.12` chooses.
PYTHON ?= $(firstword $(foreach v,3.13 3.12 3.11,$(shell python$(v) -c 'import sys; print(sys.executable)' 2>/dev/null)) python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.facerep-installed
LOCK := requirements-lock.txt
GPU_LOCK := requirements-gpu-lock.txt
SUPPORTED := import sys; v = sys.version_info[:2]; sys.exit(None if (3, 11) <= v <= (3, 13) else \
	f"{sys.executable} is Python {v[0]}.{v[1]}; facerep supports 3.11 to 3.13: make PYTHON=python3.12")
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120
export MPLBACKEND ?= Agg

.PHONY: demo test test-slow lint bench bench-gpu venv lock check-wheels

venv: $(STAMP)

# The environment is exactly the lock file: every dependency and every extra at the tested version,
# then facerep itself without resolving anything (`pip check` proves the set is consistent).
# A venv made before the lock may hold the GUI OpenCV, whose files overlap the headless build's in
# cv2/: uninstalling either deletes the other's files, so both go and the lock lays down headless alone.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || { $(PYTHON) -c '$(SUPPORTED)' && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -c '$(SUPPORTED)'
	$(BIN)/pip install --quiet --upgrade pip
	if $(BIN)/pip show --files opencv-python 2>/dev/null | grep -q ' cv2/'; then \
		$(BIN)/pip uninstall --quiet --yes opencv-python opencv-python-headless; fi
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check || { echo "pyproject.toml and $(LOCK) disagree: run make lock"; exit 1; }
	touch $(STAMP)

# Re-resolve the lock from pyproject.toml for every supported Python and platform (uv's universal
# mode), keeping the pinned versions that still fit. LOCK_ARGS=--upgrade moves everything to the newest
# allowed release, LOCK_ARGS='--upgrade-package numpy' one package. Not tied to the stamp, so it runs
# while the venv no longer matches pyproject.toml.
# Two locks. LOCK (`make venv`, CI): every extra but gpu, and dev. GPU_LOCK (the GPU image): gpu, optuna
# and voxceleb, no dev tools, with tools/onnxruntime-gpu-alias serving `onnxruntime`, resolved under
# LOCK as constraints (less the two aliases, which uv takes only by name) so that every package both
# hold is at the version the tests ran on.
lock:
	test -x $(BIN)/uv || { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); $(BIN)/pip install --quiet uv; }
	echo 'opencv-python @ ./tools/opencv-alias' | $(BIN)/uv pip compile pyproject.toml - \
		--extra optuna --extra voxceleb --extra dev \
		--universal --python-version 3.11 --custom-compile-command 'make lock' --output-file $(LOCK) $(LOCK_ARGS)
	grep -v -e 'opencv-alias' -e '^onnxruntime==' $(LOCK) > $(VENV)/lock-constraints.txt
	printf '%s\n' 'opencv-python @ ./tools/opencv-alias' 'onnxruntime @ ./tools/onnxruntime-gpu-alias' \
		| $(BIN)/uv pip compile pyproject.toml - --extra gpu --extra optuna --extra voxceleb \
		--constraint $(VENV)/lock-constraints.txt \
		--universal --python-version 3.11 --custom-compile-command 'make lock' --output-file $(GPU_LOCK)

# Asks the package index whether every locked package has a wheel for Python 3.11-3.13 on manylinux
# x86_64 and aarch64 (needs the network; not part of `make test`), and records the answer.
check-wheels: $(STAMP)
	$(BIN)/python tools/check_wheels.py $(LOCK) --out bench/results/wheels.md

demo: $(STAMP)
	$(BIN)/facerep demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done
	$(BIN)/python bench/collect.py

bench-gpu: $(STAMP)
	$(BIN)/python bench/bench_gpu.py
