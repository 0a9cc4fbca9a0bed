# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo test bench lint format clean chromium

$(VENV)/.stamp-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	touch $@

# The data extra and stardist (its wheel ships the nuclei image; --no-deps skips its
# TensorFlow-era dependencies) let the suite run on the real data sets too; the onnx extra
# lets ONNX Runtime check every export.
$(VENV)/.stamp-test: $(VENV)/.stamp-base
	$(PIP) install -e '.[test,dask,data,onnx]'
	$(PIP) install --no-deps 'stardist>=0.9'
	@$(MAKE) --no-print-directory chromium
	touch $@

# The report test opens report.html in headless Chromium. Installing it is best effort:
# without root rights or a package mirror the test skips and says why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
		( $$SUDO apt-get install -y -qq chromium >/dev/null 2>&1 || \
		  { $$SUDO apt-get update -qq >/dev/null 2>&1 && \
		    $$SUDO apt-get install -y -qq chromium >/dev/null 2>&1; } ) || \
		echo "chromium could not be installed; the report rendering test will skip"; }

$(VENV)/.stamp-bench: $(VENV)/.stamp-test
	$(PIP) install -e '.[bench]'
	touch $@

demo: $(VENV)/.stamp-base
	$(VENV)/bin/bcekit demo

# Two test processes on two cores: one BLAS/OpenMP thread each avoids oversubscription.
test: $(VENV)/.stamp-test
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE \
		$(PY) -m pytest -n 2 -q

bench: $(VENV)/.stamp-bench
	$(PY) -m benchmarks

lint: $(VENV)/.stamp-test
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: $(VENV)/.stamp-test
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache bcekit-report
