# 一部一站 合署办公管理平台 — build, run, test.
#   make run    set everything up and serve the demo on http://127.0.0.1:5000
#   make test   the suite on SQLite, then on PostgreSQL when TEST_DATABASE_URL is set

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app admin_app
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 5000
RUN_APT_PACKAGES := fonts-noto-cjk libharfbuzz-subset0
TEST_APT_PACKAGES := chromium fonts-noto-cjk libharfbuzz-subset0 poppler-utils postgresql-client
TRANSLATIONS := admin_app/translations
MIGRATION_DB := /tmp/yibuyizhan-make-migration.db

# apt-get install the named packages that are missing, when we are root and apt-get exists.
define apt_ensure
	missing=""; \
	for pkg in $(1); do dpkg -s "$$pkg" >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "WARNING: missing system packages:$$missing (install them with apt-get as root)" >&2; \
	  fi; \
	fi
endef

.PHONY: help venv system-run system-test translations messages run db seed test test-sqlite test-postgres \
        bench bytecode lint migration clean

help:
	@echo "make run        set up and serve the demo on http://$(HOST):$(PORT)"
	@echo "make test       run the suite (SQLite, then PostgreSQL if TEST_DATABASE_URL is set)"
	@echo "make bench      run every benchmark in bench/"
	@echo "make lint       ruff"
	@echo "make migration MSG=\"…\"  draft a new Alembic revision from the change in models/"
	@echo "make messages   extract UI strings and update the translation catalogues"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP)

system-run:
	@$(call apt_ensure,$(RUN_APT_PACKAGES))

system-test:
	@$(call apt_ensure,$(TEST_APT_PACKAGES))

# Compiled catalogues (.mo) are not in git; build them from the .po files.
translations: $(STAMP)
	$(VENV)/bin/pybabel compile --use-fuzzy -d $(TRANSLATIONS)

# Byte-compile the app's own modules (pip compiles the libraries; with PYTHONDONTWRITEBYTECODE set, as on
# this machine, Python would compile them again at every start: ~0.1 s of each cold start).
bytecode: $(STAMP)
	$(PY) -m compileall -q admin_app models views printables

# Re-extract every UI string (code, templates, model labels, enum labels) and merge into the .po files.
messages: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
	  --project yibuyizhan --version 0.1.0 \
	  -o $(TRANSLATIONS)/messages.pot .
	$(VENV)/bin/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --no-fuzzy-matching
	@echo "Now translate the empty msgstr entries in $(TRANSLATIONS)/*/LC_MESSAGES/messages.po"

db: $(STAMP)
	APP_ENV=development $(FLASK) db upgrade

# Seed the demo only into an empty database (seed-demo itself refuses non-empty ones).
# The check exits 0 when the database is empty, 3 when it holds data; anything else is an error.
seed: db
	@status=0; APP_ENV=development $(PY) -c "import sys; from sqlalchemy import select; \
	from admin_app import create_app; from admin_app.extensions import db; from models import Region, User; \
	app = create_app(); ctx = app.app_context(); ctx.push(); \
	sys.exit(0 if db.session.scalar(select(User.id).limit(1)) is None \
	and db.session.scalar(select(Region.id).limit(1)) is None else 3)" || status=$$?; \
	if [ $$status = 0 ]; then APP_ENV=development $(FLASK) seed-demo; \
	elif [ $$status = 3 ]; then echo "Database already holds data; not seeding the demo."; \
	else exit $$status; fi

run: system-run venv translations bytecode seed
	@echo
	@echo "一部一站 合署办公管理平台: http://$(HOST):$(PORT)/  (APP_ENV=development)"
	@echo "Demo accounts (password yibuyizhan-demo):"
	@echo "  city      市级管理员 city admin of 娄底市"
	@echo "  louxing   区县管理员 county admin of 娄星区"
	@echo "  shanshan  乡镇工作人员 clerk of 杉山镇"
	@echo "  dake      乡镇工作人员 clerk of 大科街道"
	@echo "  tianping  乡镇工作人员 clerk of 田坪镇"
	@echo "  viewer    只读 viewer of 娄底市"
	@echo
	@# The background job worker (SQLite queue in instance/) runs beside the server and stops with it.
	APP_ENV=development $(FLASK) jobs worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT; \
	APP_ENV=development $(FLASK) run --host $(HOST) --port $(PORT)

# pytest exits 5 when it collected nothing: that is a failure here too (make stops on any non-zero exit).
# Three passes, each timed (`time` prints wall and CPU): the suite on SQLite, the browser tests (Chromium
# drives the app the same way whatever the database: they run once, on SQLite), and the suite on
# PostgreSQL when TEST_DATABASE_URL is set. Tests are spread over TEST_WORKERS processes (pytest-xdist;
# `auto` = one per CPU); on PostgreSQL each worker makes its own database <name>_gw0, <name>_gw1… beside
# TEST_DATABASE_URL's and drops it afterwards.
TEST_WORKERS ?= auto
PYTEST := $(PY) -m pytest -n $(TEST_WORKERS) --durations=15

test: system-test venv translations
	@echo "== test suite on SQLite =="
	time env -u TEST_DATABASE_URL $(PYTEST) -m "not browser" $(PYTEST_ARGS)
	@echo "== browser tests (Chromium, on SQLite) =="
	time env -u TEST_DATABASE_URL $(PYTEST) -m browser $(PYTEST_ARGS)
	@if [ -n "$${TEST_DATABASE_URL:-}" ]; then \
	  echo "== test suite on PostgreSQL ($${TEST_DATABASE_URL}) =="; \
	  time $(PYTEST) -m "not browser" $(PYTEST_ARGS); \
	else \
	  echo "TEST_DATABASE_URL is not set: skipped the PostgreSQL run"; \
	fi

bench: venv translations bytecode
	$(PY) -m bench

lint: venv
	$(VENV)/bin/ruff check admin_app views models printables tests bench migrations/env.py

# Draft a NEW revision (never touches existing ones): upgrade a throw-away SQLite database to head,
# autogenerate the difference to models/ as revision <last + 1>, e.g. make migration MSG="job table".
# Read the draft and finish it by hand (it must run on SQLite and PostgreSQL).
migration: venv
	@test -n "$(MSG)" || { echo 'usage: make migration MSG="what changed"' >&2; exit 2; }
	rm -f $(MIGRATION_DB)
	@rev=$$($(PY) -c "from alembic.script import ScriptDirectory; \
	revs = [r.revision for r in ScriptDirectory('migrations').walk_revisions()]; \
	print(f'{max(map(int, revs)) + 1:04d}')"); \
	export DATABASE_URL=sqlite:///$(MIGRATION_DB) APP_ENV=development; \
	status=0; { $(FLASK) db upgrade && $(FLASK) db migrate --rev-id $$rev -m "$(MSG)"; } || status=$$?; \
	rm -f $(MIGRATION_DB); \
	ls migrations/versions/*_$${rev}_*.py 2>/dev/null || echo "No new revision written (no schema change?)"; \
	exit $$status

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find $(TRANSLATIONS) -name '*.mo' -delete
