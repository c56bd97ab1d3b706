# The three commands of the README. Each installs what it needs by itself (fast when already installed).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo run test lint bench postgres chromium install clean

install: $(STAMP)

# Re-install only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: install
	@PTB_TIMEDELTA=true $(VENV)/bin/smmbot demo

run: install
	@PTB_TIMEDELTA=true $(VENV)/bin/smmbot run

# The tests start their own PostgreSQL server; this makes sure its binaries are on the machine.
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing PostgreSQL (Debian package) for the test suite..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	      || echo "WARNING: could not install PostgreSQL; its tests will be skipped"; \
	  else echo "WARNING: PostgreSQL is not installed (apt-get install postgresql); its tests will be skipped"; fi; }

# The browser tests (tests/webapp/test_browser.py, tests/bench/webapp.py) drive Debian's chromium.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Chromium (Debian package) for the browser tests..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "WARNING: could not install Chromium; the browser tests will be skipped"; \
	  else echo "WARNING: Chromium is not installed (apt-get install chromium); the browser tests will be skipped"; fi; }

test: install postgres chromium
	@$(VENV)/bin/ruff check -q .
	@PTB_TIMEDELTA=true $(PY) -m pytest -q -p no:cacheprovider

lint: install
	@$(VENV)/bin/ruff check .

# Every script of tests/bench/ (not the modules they import: those have no __main__).
bench: install
	@for b in $$(grep -l '^if __name__ == "__main__":' tests/bench/*.py); do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

# Refresh the message catalogs from the code: extract the English msgids, merge them into every
# bot/locales/<lang>/LC_MESSAGES/messages.po. New strings arrive untranslated; tests/test_i18n.py names them.
# Babel's warnings about f-strings passed as *values* (`_("{x}", x=f"...")`) are noise and are filtered;
# an f-string as the msgid itself is caught by tests/test_i18n.py.
.PHONY: translations
translations: SHELL := /bin/bash
translations: install
	@set -o pipefail; $(VENV)/bin/pybabel -q extract -F babel.cfg -k _ -k lazy -k ngettext:1,2 --no-location \
	  --sort-output --add-comments=TRANSLATORS: --project=smm-panel-bot -o bot/locales/messages.pot . 2>&1 \
	  | { grep -v 'Skipping f-string' || true; }
	@$(VENV)/bin/pybabel -q update -i bot/locales/messages.pot -d bot/locales --no-fuzzy-matching \
	  --ignore-obsolete --ignore-pot-creation-date
