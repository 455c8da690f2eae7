# Two commands on a fresh clone: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint serve-docs clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Gongche needs Python >= 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstalled whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed

## demo: install, migrate a SQLite database under var/, seed the demo city, run its year, report, verify
demo: $(VENV)/.installed
	@mkdir -p var
	GONGCHE_DATABASE_URL=sqlite:///var/demo.db $(BIN)/gongche demo --reset --out var

## lint: ruff over everything, mypy (strict) over fleet/ and dispatch/
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy

## test: lint, then the whole suite (PostgreSQL tests skip with the reason when no server answers)
test: lint
	@$(BIN)/pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
