# Two commands on a fresh machine: `make run` and `make test` (see README.md).
# Everything installs from PyPI into .venv/, constrained by requirements.lock.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: run test lint typecheck unit setup reference seqio rates bench clean lock

$(VENV)/.installed: setup.py requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -c requirements.lock -e '.[dev,test,dask]'
	touch $@

# The compiled core (filters/_native.c, see filters/kernels.py): pip install -e builds it in place;
# this rebuilds it when its source changes. Where it cannot build (no C compiler or Python
# headers) the build only warns, and the pure-Python core runs (one warning line).
$(VENV)/.native: filters/_native.c setup.py $(VENV)/.installed
	$(PY) setup.py -q build_ext --inplace
	touch $@

setup: $(VENV)/.installed $(VENV)/.native

## make run: set up, then build C4 (en, 3.1.0) from the bundled real sample into ./c4-output,
## with its span-corrupted examples in ./c4-output/masked (c4 build --mask)
run: setup
	$(VENV)/bin/c4 build --mask

## make reference: the TFDS reference harnesses the differential tests diff against (cached)
reference:
	$(PYTHON) tests/reference/install.py

## make seqio: .venv-seqio, a training environment with seqio for tests/seqio/ (its own: seqio's
## sentencepiece needs protobuf >= 7, Beam < 7; docs/training.md "Two environments")
SEQIO_VENV := .venv-seqio
$(SEQIO_VENV)/.installed: tests/seqio/requirements.txt
	rm -rf $(SEQIO_VENV)
	$(PYTHON) -m venv $(SEQIO_VENV)
	$(SEQIO_VENV)/bin/python -m pip install -q --upgrade pip
	$(SEQIO_VENV)/bin/python -m pip install -q -r tests/seqio/requirements.txt
	touch $@

seqio: $(SEQIO_VENV)/.installed

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

## make test: set up, lint, type-check and run every test
test: setup reference seqio lint typecheck
	$(VENV)/bin/pytest -n 2 -q

## make bench: the benchmark suite -> benchmarks/results/*.json + *.png (docs/benchmarks.md);
## BENCH_QUICK=1 make bench: tiny inputs, one repetition (checks the harness, ~1 min)
bench: setup reference
	$(PY) benchmarks/suite.py

## make rates: c4 estimate's packaged rates (pipeline/cloud/data/rates.json) from benchmarks/results
rates: setup
	$(PY) benchmarks/rates.py

## make lock: re-resolve requirements.lock from setup.py (commit the result)
lock:
	rm -rf /tmp/c4-lock-venv && $(PYTHON) -m venv /tmp/c4-lock-venv
	/tmp/c4-lock-venv/bin/pip install -q --upgrade pip
	/tmp/c4-lock-venv/bin/pip install -q '.[dev,test,dask]'
	/tmp/c4-lock-venv/bin/pip freeze --exclude c4-pipeline > requirements.lock

clean:
	rm -rf $(VENV) $(SEQIO_VENV) c4-output .pytest_cache .mypy_cache .ruff_cache build
	rm -f filters/_native.*.so
