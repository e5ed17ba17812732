# The two commands of the README, plus helpers. Each target builds its own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SOURCES := pyproject.toml hatch_build.py $(wildcard proto/*.proto)

.PHONY: run demo demo-thursday test lint kafka-start kafka-stop clean

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "evalstream needs Python 3.11 or newer, $(PYTHON) is " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@touch $@

$(VENV)/.installed-run: $(VENV)/.python-ok $(SOURCES)
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-demo: $(VENV)/.python-ok $(SOURCES)
	$(BIN)/pip install --quiet -e '.[demo]'
	@touch $@ $(VENV)/.installed-run

$(VENV)/.installed-test: $(VENV)/.python-ok $(SOURCES)
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed-run $(VENV)/.installed-demo

## run: the processor with its embedded default (receiver + worker in one process, no Kafka)
run: $(VENV)/.installed-run
	$(BIN)/python -m processor $(ARGS)

## demo: send the bundled instrumentation captures to a running `make run` (ARGS="--times 5", --endpoint)
demo: $(VENV)/.installed-demo
	$(BIN)/python -m processor.demo send $(ARGS)

## demo-thursday: the seed article's Thursday bug end to end (a week of traffic, promtool, the page, the gate)
demo-thursday: $(VENV)/.installed-demo
	$(BIN)/python -m processor.demo thursday $(ARGS)

## test: lint (ruff, mypy --strict), then the whole suite (starts its own Kafka broker unless KAFKA_BOOTSTRAP_SERVERS is set)
test: $(VENV)/.installed-test
	deploy/local/test-tools.sh
	$(BIN)/ruff check processor tests bench deploy hatch_build.py
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check processor tests bench deploy hatch_build.py
	$(BIN)/mypy

kafka-start:
	deploy/local/kafka.sh start

kafka-stop:
	deploy/local/kafka.sh stop

clean:
	rm -rf $(VENV) processor/_proto .pytest_cache .ruff_cache
