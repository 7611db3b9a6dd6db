# One install for everything; see README.md.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install demo test lint docs bench eval clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: install
	$(BIN)/store2crm demo

test: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd dbt_project && ../$(BIN)/sqlfluff lint models tests analyses --processes 2

docs: install
	$(BIN)/store2crm docs

bench: install
	$(BIN)/python -m store2crm.bench

eval: install
	$(BIN)/python -m store2crm.evaluate identity --scale 2000 --scale 20000; identity=$$?; $(BIN)/python -m store2crm.evaluate scores && exit $$identity

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs .store2crm
