# Quick start:  make run   (the main job)   |   make test   (the whole test suite)
# Both create and fill .venv on first use; only Python 3.11 (or 3.10+) is needed beforehand.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHARED_DATA := ../shared/data/pneumoniamnist.npz

.PHONY: run test install data clean

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

# The default data: $PNEUMOLIB_DATA when set, else data/ (filled from ../shared/data
# when it is beside the repository, else downloaded by medmnist, which needs network).
data: $(STAMP)
	@if [ -n "$$PNEUMOLIB_DATA" ]; then echo "data: using \$$PNEUMOLIB_DATA=$$PNEUMOLIB_DATA"; \
	elif [ -f data/pneumoniamnist.npz ]; then echo "data: data/pneumoniamnist.npz"; \
	elif [ -f $(SHARED_DATA) ]; then cp $(SHARED_DATA) data/ && echo "data: copied $(SHARED_DATA) to data/"; \
	else $(BIN)/python -m pneumolib download --size 28 --data-dir data; fi

# The main job. Until the notebook suite exists: the reference training run, whose
# results (metrics.json, history.csv, config.json) are committed under results/runs/.
run: data
	$(BIN)/python -m pneumolib train --model resnet18 --epochs 10 --seed 0 --out results/runs/resnet18_28px_seed0

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
