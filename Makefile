# Two commands set up and check a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: demo test install install-test clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip wheel setuptools

$(VENV)/.installed: $(PY) setup.cfg pyproject.toml
	$(PIP) install --quiet -e ".[em]"
	touch $@

$(VENV)/.installed-test: $(PY) setup.cfg pyproject.toml
	$(PIP) install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(PY) examples/demo.py -o demo_output --force

test: $(VENV)/.installed-test
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q -ra --timeout=1800 $(PYTEST_ARGS)

clean:
	rm -rf demo_output build *.egg-info
