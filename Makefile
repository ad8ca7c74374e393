# The two commands the README opens with: `make riff` and `make test`.
# Both create ./.venv when missing and install the project with its dev extras first.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROMPT ?= lofi hip hop beat with warm rhodes chords
MODEL ?=
OUT ?= out

.PHONY: setup riff test lint typecheck unit bench clean vendor-web

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

riff: $(STAMP)
	$(BIN)/riffbot riff "$(PROMPT)" $(if $(MODEL),--model $(MODEL)) --out $(OUT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy .

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

# The front-end files are committed (nothing runs npm at test or run time); this re-fetches
# them from the npm registry at the versions pinned in web/static/vendor/package.json.
THREE_VERSION := 0.170.0
vendor-web:
	cd $$(mktemp -d) && npm pack --silent three@$(THREE_VERSION) >/dev/null && \
	  tar xzf three-$(THREE_VERSION).tgz && \
	  cp package/build/three.module.min.js package/LICENSE $(CURDIR)/web/static/vendor/three/

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
