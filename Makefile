# The two commands: `make demo` (set up + run the demo exchange) and `make test`.
# Both create .venv on first use and install the pinned versions from constraints.txt.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp
READER := .duckdb-reader
READER_STAMP := $(READER)/.installed-stamp
DEMO_HOME ?= demo-home

.PHONY: demo test install duckdb-reader clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $(STAMP)

# the DuckDB that wrote warehouses before the lakehouse, for `hub migrate` (and its test)
duckdb-reader: $(READER_STAMP)

$(READER_STAMP): requirements-duckdb-reader.txt $(STAMP)
	rm -rf $(READER)
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps --target $(READER) -r requirements-duckdb-reader.txt
	@touch $(READER_STAMP)

demo: $(STAMP)
	@scripts/ensure-fonts.sh
	$(VENV)/bin/hub demo --home $(DEMO_HOME)

test: $(STAMP) $(READER_STAMP)
	@scripts/ensure-services.sh
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) $(READER) $(DEMO_HOME) .pytest_cache .hypothesis
