# Quick start:  make run   (the main job)   |   make test   (the whole test suite)
# Both create and fill .venv on first use; only Python 3.11 or newer is needed beforehand.

SHELL  := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHARED_DATA := ../shared/data/pneumoniamnist.npz

.PHONY: run reproduce reference test install data lab docs clean

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

# The documentation site's tools (MkDocs, mkdocs-jupyter, mkdocstrings), beside the project's.
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): requirements-docs.txt $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-docs.txt
	@touch $(DOCS_STAMP)

# The default data: $PNEUMOLIB_DATA when set, else data/ (filled from ../shared/data
# when it is beside the repository, else downloaded by medmnist, which needs network).
data: $(STAMP)
	@if [ -n "$$PNEUMOLIB_DATA" ]; then echo "data: using \$$PNEUMOLIB_DATA=$$PNEUMOLIB_DATA"; \
	elif [ -f data/pneumoniamnist.npz ]; then echo "data: data/pneumoniamnist.npz"; \
	elif [ -f $(SHARED_DATA) ]; then cp $(SHARED_DATA) data/ && echo "data: copied $(SHARED_DATA) to data/"; \
	else $(BIN)/python -m pneumolib download --size 28 --data-dir data; fi

# The main job: the notebook suite, headless, default profile. It renders the committed reference
# into results/render/ (results/store holds every record and every model a notebook loads, checked
# against results/store/checksums.sha256) and compares it with the committed notebooks, tables,
# records and figures' data by tools/compare.py's rule: nothing is retrained and no committed file
# is written, on any CPU. Only `python -m tools.notebooks run --update-reference` writes the reference.
run: data
	@set -e; git=$$(git rev-parse --is-inside-work-tree 2>/dev/null || true); \
	before=$$( [ -n "$$git" ] && git status --porcelain -- results notebooks docs README.md || true); \
	$(BIN)/python -m tools.notebooks run; \
	if [ -n "$$git" ]; then after=$$(git status --porcelain -- results notebooks docs README.md); \
		if [ "$$before" = "$$after" ]; then echo "make run: the committed results were rendered unchanged (git status as before)"; \
		else echo "make run: the run changed these files:"; diff <(echo "$$before") <(echo "$$after") || true; exit 1; fi; fi

# This machine's own replicate: every notebook retrained here into results/replicate/ (never over
# the reference), then the reproduction report (each headline number against the seed sd, and
# whether each decision of 06 came out the same).
reproduce: data
	$(BIN)/python -m tools.notebooks run --replicate $(if $(ONLY),--only $(ONLY),)
	$(BIN)/python -m tools.notebooks report

# The researcher guide's reference runs (ResNet-18 and small CNN, seeds 0-2, fast and reference data path)
# into the run store, their table results/metrics/reference_runs.csv, and the guides' tables.
reference: data
	$(BIN)/python benchmarks/reference_runs.py
	$(BIN)/python -m tools.render_docs

# The documentation site, built offline into build/site/ (open build/site/index.html): the guides,
# the committed notebooks with their outputs, and the API from the docstrings (mkdocs.yml).
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	@echo "docs: open build/site/index.html"

# The notebooks in JupyterLab, from the project's environment (the data as for make run).
lab: data
	$(BIN)/jupyter lab notebooks

# Unit tests (no process started: minutes), then the notebook regression layers and the integration
# tests (the CLI, worker pools, papermill, nbgrader and the grader's sandbox), all writing to a
# temporary results folder so that committed results are never touched:
#   1. every notebook executes headless in the smoke profile (papermill), and every table of that
#      run must show each run id's numbers as its record holds them; the integration tests run
#      after it, and the class they grade starts from its run store;
#   2. pytest --nbval re-runs those executed copies and must reproduce them cell by cell, by the
#      render's comparison rule (tools/nbval_rule.py, tools/output_exceptions.cfg);
#   3. the committed notebooks' cells tagged nbval-check-output must show their committed outputs in layer 1's
#      run (what pytest --nbval-lax notebooks checks, without a third execution);
#   4. a stand-in for other machines: 02, 04, 05, 06 and 07 (the notebooks that compute at render time)
#      rendered with OpenBLAS's Prescott kernel, torch without vector kernels or bf16, and one thread,
#      in two halves side by side, passing make run's comparison with git status as before
#      (tools/standins.py; `python -m tools.standins` alone adds the Haswell stand-in);
#   5. JupyterLab in headless Chromium runs each notebook's parameter check, and the docs site is
#      built and every page and link checked there (skipped, with a line saying how to enable it,
#      where chromium or chromedriver is missing).
NBVAL := $(BIN)/python -m pytest -p no:cacheprovider -p tools.nbval_rule --nbval-current-env
test: data $(DOCS_STAMP)
	@echo "== unit tests"; $(BIN)/python -m pytest -m "not integration and not browser and not install"
	@set -e; tmp=$$(mktemp -d); export PNEUMOLIB_RESULTS=$$tmp; \
	export PNEUMOLIB_DATA=$${PNEUMOLIB_DATA:-$(CURDIR)/data}; \
	echo "== layer 1: smoke execution"; $(BIN)/python -m tools.notebooks run --smoke; \
	echo "== integration tests (the graders' store seeded from layer 1's, as an instructor's smoke run would)"; \
	PNEUMOLIB_TEST_SEED_RESULTS=$$tmp/smoke $(BIN)/python -m pytest --durations=8 -m "integration and not browser and not install"; \
	echo "== layer 1, its tables: every table of that run shows each run id's numbers as its record holds them"; \
	PNEUMOLIB_CHECK_RESULTS=$$tmp/smoke $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_reference_consistency.py; \
	echo "== layer 2: nbval on the fresh executions"; \
	SMOKE_TEST=1 $(NBVAL) --nbval --nbval-sanitize-with tools/output_exceptions.cfg $$tmp/smoke/notebooks; \
	echo "== layer 3: the committed notebooks' checked cells (tagged nbval-check-output), as nbval-lax checks them, in layer 1's run"; \
	PNEUMOLIB_CHECK_NOTEBOOKS=$$tmp/smoke/notebooks $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_checked_outputs.py; \
	echo "== layer 4: a stand-in for other machines (02, 04, 05, 06 and 07 rendered on other kernels)"; \
	env -u PNEUMOLIB_RESULTS $(BIN)/python -m tools.standins --stand-in prescott-novector-fp32 --jobs 2; \
	echo "== layer 5: JupyterLab and the docs site in headless Chromium"; \
	if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		$(BIN)/python -m pytest -p no:cacheprovider -m browser tests/browser; \
	else echo "layer 5 skipped: chromium and chromedriver are not installed (enable it with: apt-get install chromium chromium-driver)"; fi; \
	rm -rf $$tmp

clean:
	rm -rf $(VENV) .pytest_cache
