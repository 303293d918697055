# Consistency Lab: `make lab` opens the course, `make test` checks everything.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JUPYTER_ARGS ?=
NOTEBOOKS := $(wildcard chapters/*.ipynb solutions/*.ipynb)
SHARE  := $(VENV)/share/jupyter
KERNEL := $(SHARE)/kernels/python3/kernel.json
SERVER_CONFIG := $(VENV)/etc/jupyter/jupyter_server_config.json
LAB_OVERRIDES := $(SHARE)/lab/settings/overrides.json
PAGE_CONFIG := $(VENV)/etc/jupyter/labconfig/page_config.json
WORKSPACES ?= $(CURDIR)/$(VENV)/share/jupyter/lab/workspaces
BROWSER_TEST := MPLBACKEND=Agg $(PY) -m pytest tests/browser -rs

.PHONY: lab test test-browser jupyter-setup bench lint labs clean help

help:
	@echo "make lab    set up .venv (first time) and open the course in JupyterLab"
	@echo "make test   set up .venv (first time) and run every test and notebook, then the browser test"
	@echo "make test-browser   only the browser test (Chromium drives JupyterLab; screenshots in .browser-screenshots/)"
	@echo "make bench  run the speed benchmarks"
	@echo "make labs   regenerate labs/ from solutions/ (instructors)"

$(PY):
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info < (3, 10))" || { echo "Consistency Lab needs Python 3.10 or newer (found: $$($(PYTHON) --version)); run: make lab PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "Could not create .venv: on Debian/Ubuntu install the venv module (sudo apt install python3-venv), then run make again."; exit 1; }

# Reinstall only when the dependency list changes, so a second `make lab` starts in seconds.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# The kernel reports the metadata the notebooks store (display name "Python 3", ipykernel's
# language_info without the version): anything else and opening a notebook would mark it modified.
$(KERNEL): etc/jupyter/register_kernel.py $(STAMP)
	$(PY) etc/jupyter/register_kernel.py

# Server settings (hidden build artefacts) and JupyterLab default settings (no news prompt) live
# in .venv, so they apply to every JupyterLab started from it and to no other Jupyter.
$(SERVER_CONFIG): etc/jupyter/jupyter_server_config.json | $(STAMP)
	@mkdir -p $(@D) && cp $< $@

$(LAB_OVERRIDES): etc/jupyter/overrides.json | $(STAMP)
	@mkdir -p $(@D) && cp $< $@

# nbgrader (in the test extra, for the instructors' agreement test) switches on its menus and
# server extensions wherever it is installed; the course's own JupyterLab keeps them off.
$(PAGE_CONFIG): etc/jupyter/page_config.json | $(STAMP)
	@mkdir -p $(@D) && cp $< $@

jupyter-setup: $(STAMP) $(KERNEL) $(SERVER_CONFIG) $(LAB_OVERRIDES) $(PAGE_CONFIG)

# JupyterLab keeps its layout (open notebooks, file browser folder) in a workspace. The course's
# own lives in .venv: the first `make lab` opens the index with the file browser at the course
# root (chapters/, labs/, README); later runs bring back wherever the student left off.
# JupyterLab refuses to start as root (containers, cloud VMs) unless told that is intended.
lab: jupyter-setup
	@test -e "$(WORKSPACES)" || $(VENV)/bin/jupyter lab workspaces import --name default \
	  --LabWorkspaceImportApp.workspaces_dir="$(WORKSPACES)" etc/jupyter/first-run.jupyterlab-workspace --Application.log_level=WARN
	@if [ "$$(id -u)" = 0 ]; then echo "make lab: running as root (a container or VM?), so passing --allow-root to JupyterLab"; \
	 allow_root=--allow-root; else allow_root=; fi; \
	 exec $(VENV)/bin/jupyter lab $$allow_root --ServerApp.root_dir="$(CURDIR)" \
	   --LabApp.workspaces_dir="$(WORKSPACES)" $(JUPYTER_ARGS)

# ruff for style; lint-imports for the layer rules (pyproject.toml [tool.importlinter], ARCHITECTURE.md).
lint: $(STAMP)
	$(VENV)/bin/ruff check consistency_lab tests benchmarks
	$(VENV)/bin/lint-imports --no-cache --no-logo

# Notebook cells share one kernel, so each notebook must stay on one worker (--dist loadfile).
# The browser test runs last and alone: it drives a whole JupyterLab and Chromium on the two cores.
# -rs prints each skip's one-line reason (what is missing and how to install it).
# The release test runs a whole second suite (the student copy's), so it runs alone: next to the
# first suite its timing-sensitive tests would share two cores with twice the work.
test: jupyter-setup lint
	MPLBACKEND=Agg $(PY) -m pytest tests -n 2 -rs --ignore=tests/browser -m "not release"
	MPLBACKEND=Agg $(PY) -m pytest --nbval-lax --nbval-current-env -n 2 --dist loadfile $(NOTEBOOKS)
	MPLBACKEND=Agg $(PY) -m pytest tests/grading -rs -m release
	$(BROWSER_TEST)

# Opens every chapter and one lab in Chromium through `make lab`; screenshots go to .browser-screenshots/.
test-browser: jupyter-setup
	$(BROWSER_TEST)

labs: $(STAMP)
	$(VENV)/bin/consistency-lab build-labs

bench: $(STAMP)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; MPLBACKEND=Agg $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .browser-screenshots
