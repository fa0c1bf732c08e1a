VENV ?= .venv
PY := $(VENV)/bin/python
.PHONY: install test
install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@
test: install
	$(PY) -m pytest -q tests
