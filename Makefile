# Consistency Lab: `make lab` opens the course, `make test` checks everything.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JUPYTER_ARGS ?=
NOTEBOOKS := $(wildcard chapters/*.ipynb solutions/*.ipynb)

.PHONY: lab test bench lint labs clean help

help:
	@echo "make lab    set up .venv (first time) and open the course in JupyterLab"
	@echo "make test   set up .venv (first time) and run every test and notebook"
	@echo "make bench  run the speed benchmarks"
	@echo "make labs   regenerate labs/ from solutions/ (instructors)"

$(PY):
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info < (3, 10))" || { echo "Consistency Lab needs Python 3.10 or newer (found: $$($(PYTHON) --version)); run: make lab PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "Could not create .venv: on Debian/Ubuntu install the venv module (sudo apt install python3-venv), then run make again."; exit 1; }

# Reinstall only when the dependency list changes, so a second `make lab` starts in seconds.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (Consistency Lab)" >/dev/null
	touch $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/chapters/00_index.ipynb $(JUPYTER_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check consistency_lab tests benchmarks

# Notebook cells share one kernel, so each notebook must stay on one worker (--dist loadfile).
test: $(STAMP) lint
	MPLBACKEND=Agg $(PY) -m pytest tests -n 2
	MPLBACKEND=Agg $(PY) -m pytest --nbval-lax --nbval-current-env -n 2 --dist loadfile $(NOTEBOOKS)

labs: $(STAMP)
	$(VENV)/bin/consistency-lab build-labs

bench: $(STAMP)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; MPLBACKEND=Agg $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
