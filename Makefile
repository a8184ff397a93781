# mailtrail: `make demo` runs the main job on the embedded default; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench lock graph-types clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/mailtrail demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/pytest -q
	$(BIN)/pytest -q -m postgres --postgres

bench: $(STAMP)
	$(BIN)/python bench/import_corpus.py

lock: $(STAMP)
	{ echo "# Pinned dependencies (runtime and development). Regenerate with: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^-e'; } > requirements.lock

# Regenerates tests/sandbox/graph/graph-types.json from the pinned npm package (needs npm; not part of test).
graph-types: $(STAMP)
	$(BIN)/python tests/sandbox/graph/graph_types.py

clean:
	rm -rf $(VENV) mailtrail.db mailtrail.key demo-output
