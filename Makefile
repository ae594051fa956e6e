# Two commands on a fresh machine (Python 3.11, no conda):
#   make run   - set up .venv, then run the main job on the embedded data
#   make test  - set up .venv, then run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test test-torch venv bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ecgkit workbook run --profile cpu

# Two workers (pytest-xdist), each file on one worker: the 2-core CI machine busy on both
# cores. TEST_WORKERS=0 runs the suite in this process. Tests marked `serial` time how fast
# something answers (a Ctrl-C); they run afterwards, alone, on an otherwise idle machine.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not serial"
	$(BIN)/python -m pytest -m serial

# ecgkit on Keras' PyTorch backend: the tests of tests/test_backends.py with a CPU-only PyTorch
# build installed in .venv (about 200 MB from PyTorch's own index; the default wheel from PyPI
# pulls several GB of CUDA libraries). Not part of `make test`, whose fresh .venv has no torch.
test-torch: $(STAMP)
	$(BIN)/python -c "import torch" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu
	$(BIN)/python -m pytest tests/test_backends.py -k torch -p no:cacheprovider

# The quick benchmarks (a few minutes); bench_model_cost.py (about 11 min) and
# bench_export.py (full database, about 4 min) are run by hand: see benchmarks/README.md.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_render.py
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_model_cost.py --quick

clean:
	rm -rf runs .pytest_cache
