# The two commands: `make demo` (set up + run the demo exchange) and `make test`.
# Both create .venv on first use and install the pinned versions from constraints.txt.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp
DEMO_HOME ?= demo-home

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	@scripts/ensure-fonts.sh
	$(VENV)/bin/hub demo --home $(DEMO_HOME)

test: $(STAMP)
	@scripts/ensure-services.sh
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache .hypothesis
