# Two commands on a fresh machine:  `make demo`  and  `make test`.
# Both create (or reuse) the virtual environment in $(VENV), install the CPU
# build of PyTorch first (a plain `torch` requirement would pull a multi-GB
# CUDA build), with the torchvision release built for it, then skastro with its
# dependencies, pinned to that torch so pip never swaps it for a CUDA build.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0 torchvision==0.28.0
DEMO_OUT ?= skastro_demo
DEMO_SIZE ?= small
STAMP := $(VENV)/.skastro-installed

.PHONY: env test test-all demo docs docs-fast lint bench bench-quick clean

env: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -c "from importlib.metadata import version as v; v('torch'); v('torchvision')" 2>/dev/null || $(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip freeze | grep -E '^(torch|torchvision)==' > $(VENV)/torch-constraints.txt
	$(PY) -m pip install --quiet -c $(VENV)/torch-constraints.txt -e ".[test]"
	touch $(STAMP)

test: env
	$(PY) -m ruff check skastro tests examples benchmarks docs/conf.py
	OMP_NUM_THREADS=1 $(PY) -m pytest -q

test-all: env
	$(PY) -m pytest -q -m ""

demo: env
	$(PY) -m skastro demo --size $(DEMO_SIZE) --out $(DEMO_OUT)

$(VENV)/.skastro-docs: $(STAMP)
	$(PY) -m pip install --quiet -c $(VENV)/torch-constraints.txt -e ".[test,docs]"
	touch $@

docs: $(VENV)/.skastro-docs
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

# the same without executing the example gallery (seconds instead of minutes)
docs-fast: $(VENV)/.skastro-docs
	$(PY) -m sphinx -W --keep-going -D plot_gallery=0 -b html docs docs/_build/html

lint: env
	$(PY) -m ruff check skastro tests examples benchmarks docs/conf.py

# full-size benchmarks (tens of minutes, 4 GB of FITS written once);
# `make bench-quick` runs each at reduced size
bench: env
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

bench-quick: env
	$(PY) benchmarks/bench_crop.py --small
	$(PY) benchmarks/bench_fats.py --quick
	$(PY) benchmarks/bench_lightcurve_extractor.py --small
	$(PY) benchmarks/bench_lsbg.py
	$(PY) benchmarks/bench_pretrain.py
	$(PY) benchmarks/bench_rcnn.py

clean:
	rm -rf $(VENV) build dist *.egg-info docs/_build docs/generated docs/auto_examples
