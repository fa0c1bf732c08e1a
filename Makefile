# Lore: `make demo` runs it on embedded defaults, `make test` runs the checks. Nothing else is needed on a
# fresh Debian machine with Python 3.11 (system packages come from apt-get, the rest from pip).
VENV ?= .venv
PY := $(VENV)/bin/python
LORE := $(VENV)/bin/lore
# redis-server: Redis for production and the tests; libmagic1: file-type detection of unstructured
SYSTEM_PACKAGES := redis-server libmagic1
# only for `make test`: the real servers the connector tests start on loopback: samba, mediawiki (with
# php-cli's built-in server and SQLite), nginx-light serving python-jinja2-doc (real HTML documentation)
TEST_PACKAGES := samba mediawiki php-sqlite3 php-cli nginx-light python-jinja2-doc
export DO_NOT_TRACK := 1

.PHONY: install system-deps test-deps apt lint test demo bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

system-deps:
	@$(MAKE) --no-print-directory apt PACKAGES="$(SYSTEM_PACKAGES)"

test-deps:
	@$(MAKE) --no-print-directory apt PACKAGES="$(TEST_PACKAGES)"

apt:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "installing system packages:$$missing"; \
		$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# two pytest workers (a module's tests stay on one, with its servers): the suite in about half the time
TEST_WORKERS ?= 2
test: lint test-deps
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

demo: install
	$(LORE) ingest docs --source lore-docs --access public
	$(LORE) chat

bench: install
	$(PY) -m bench.run --out docs/benchmarks.md

clean:
	rm -rf $(VENV) .lore .mypy_cache .pytest_cache .ruff_cache
