# Each target makes .venv in the checkout, installs what it needs, and runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint verify docs docs-serve bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

# The demo installs only what it runs: NumPy, the cli extra and PyTorch (for the side-by-side), not the test
# extra (no TensorFlow, no MkDocs). A venv made by `make test` already has all of it.
$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	@if [ -f $(VENV)/.installed-test ] && [ ! $(VENV)/.installed-test -ot pyproject.toml ]; then :; \
	else $(BIN)/python -m pip install -e '.[demo]'; fi
	touch $@

# One conv2d side by side with PyTorch (a summary table of the differences; --show-arrays prints the arrays),
# then a LeNet-style CNN trained on scikit-learn's 8x8 digits with NumPy alone (>= 97% test accuracy, seconds
# on 2 cores; weights and plots in runs/latest), ending with its summary and two commands to try next.
demo: $(VENV)/.installed-demo
	@echo "== 1/2: conv2d, vanilla_nn next to PyTorch =="
	@$(BIN)/vanilla-nn compare conv2d --input-shape 2,3,5,7 --out-channels 4 --kernel-size 3 --stride 2 \
		--padding 1 --seed 123 --oracle torch
	@echo
	@echo "== 2/2: train a CNN on the 8x8 digits with NumPy alone =="
	@$(BIN)/vanilla-nn train --out runs/latest
	@echo
	@echo "Next, try:"
	@echo "  $(BIN)/vanilla-nn predict --weights runs/latest/model.safetensors --show 5"
	@echo "  $(BIN)/vanilla-nn verify --oracle torch --quick    # every op against PyTorch and finite differences"
	@echo "Installed: $$(du -sh $(VENV) | cut -f1) in $(VENV) (make test adds TensorFlow and the docs tools)."

# Lint, the test suite, then the whole proof matrix against both frameworks (fails when any check fails).
test: $(VENV)/.installed-test
	$(BIN)/ruff check src tests
	$(BIN)/python -m pytest -q
	$(BIN)/vanilla-nn verify --oracle all

# The documentation site: regenerate the figures and the benchmark page (from benchmarks/results/), then build with warnings as errors (offline) into site/.
$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[docs]'
	touch $@

docs: $(VENV)/.installed-docs
	$(BIN)/python docs/figures/make_figures.py
	$(BIN)/python docs/figures/make_bench_page.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	@echo "site built: open site/index.html"

docs-serve: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

# The whole proof in one command: every op against PyTorch, TensorFlow and finite differences.
verify: $(VENV)/.installed-test
	$(BIN)/vanilla-nn verify --oracle all

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[bench]'
	touch $@

# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (set on some machines for old OpenBLAS builds) slow a current
# NumPy: unset them for the benchmark alone. Results: benchmarks/results/bench.{md,json,png}; then data-parallel
# throughput on MPI (1 x 1, 1 x 2 threads, 2 ranks x 1): benchmarks/results/distributed.{md,json}; whole
# ResNet-18 / MobileNetV2 steps against torchvision with a per-op-family profile: benchmarks/results/network.*;
# the tape's overhead on a LeNet step: benchmarks/results/tape.json; the suite again with one thread:
# benchmarks/results/one_thread/. Then `make docs` (or docs/figures/make_bench_page.py) puts it all on the site.
bench: $(VENV)/.installed-bench
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python -m benchmarks $(BENCH_ARGS)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python -m benchmarks --threads 1 --clock cpu --out benchmarks/results/one_thread $(BENCH_ARGS)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python -m benchmarks.distributed
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python -m benchmarks.network
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python -m benchmarks.tape

bench-quick: $(VENV)/.installed-bench
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python -m benchmarks --quick --out build/bench-quick
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python -m benchmarks.network --quick --out build/bench-quick
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python -m benchmarks.distributed --quick --out build/bench-quick

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) site build *.egg-info src/*.egg-info
