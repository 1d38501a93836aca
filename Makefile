# Two commands set up and check a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: demo test install install-test clean napari-system-deps

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

# The suite runs in PYTEST_WORKERS processes (pytest-xdist), a test file per process at a time so that a file's
# module fixtures are built once: most of its time is graph tracing and single-threaded Python, so two processes
# keep two cores busy. PYTEST_WORKERS=0 runs it in this process.
PYTEST_WORKERS ?= 2

# The napari plugin tests need an X display and Qt's X11 libraries: install them once when we are root on a
# Debian/Ubuntu machine (skipped with a message otherwise; those tests then skip with the reason), and run
# pytest under xvfb-run when there is no display.
NAPARI_APT := xvfb xauth libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
              libxcb-render-util0 libxcb-xinerama0 libxcb-xinput0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0 \
              libgl1 libegl1 libdbus-1-3 libfontconfig1

napari-system-deps:
	@if command -v dpkg-query >/dev/null 2>&1 && dpkg-query -W -f='$${Status}\n' $(NAPARI_APT) 2>/dev/null \
	      | grep -c "ok installed" | grep -qx "$(words $(NAPARI_APT))"; then :; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "make test: not root or no apt-get; the napari widget tests need: $(NAPARI_APT) (they skip without a display)"; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(NAPARI_APT) >/dev/null; fi

test: $(VENV)/.installed-test napari-system-deps
	@if [ -z "$$DISPLAY" ] && command -v xvfb-run >/dev/null 2>&1; then set -x; \
	  TF_CPP_MIN_LOG_LEVEL=2 xvfb-run -a -s "-screen 0 1920x1200x24" $(PY) -m pytest -q -ra --timeout=1800 -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS); \
	else set -x; TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q -ra --timeout=1800 -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS); fi

clean:
	rm -rf demo_output build *.egg-info
