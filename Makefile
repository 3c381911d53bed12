# Two ways in on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium

# The Rasa server runs in its own Python 3.10 environment (Rasa 3.6 declares Python <3.11).
# On these machines python3.10 is a pyenv shim: PYENV_VERSION picks the release. Override either.
RASA_PYTHON ?= python3.10
RASA_PYENV_VERSION ?= 3.10.13
RASA_VENV := .venv-rasa
RASA_STAMP := $(RASA_VENV)/.installed
RASA_REQUIREMENTS := bots/rasa/requirements.txt

.PHONY: setup demo test browser postgres node webchat clean $(RASA_VENV)

setup: $(STAMP) $(RASA_VENV)

# Reinstall only when the project's declared dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,ray]'
	touch $(STAMP)

# Every package pinned (a pip freeze), so the install is the same everywhere; ~2.5 min and ~2.7 GB the first time.
$(RASA_VENV): $(RASA_STAMP)

$(RASA_STAMP): $(RASA_REQUIREMENTS)
	test -x $(RASA_VENV)/bin/python || PYENV_VERSION=$(RASA_PYENV_VERSION) $(RASA_PYTHON) -m venv $(RASA_VENV)
	@$(RASA_VENV)/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' || { \
	  echo "$(RASA_VENV) is not Python 3.10 (Rasa 3.6 needs it): rm -r $(RASA_VENV) and set RASA_PYTHON to a python3.10"; exit 1; }
	$(RASA_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(RASA_VENV)/bin/python -m pip install --quiet -r $(RASA_REQUIREMENTS)
	$(RASA_VENV)/bin/python -m pip check
	touch $(RASA_STAMP)

# The browser tests drive Debian's chromium (Playwright's own browser download cannot reach the network here).
browser:
	@test -x $(CHROMIUM) || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The storage tests run the forum on PostgreSQL too: Debian's server binaries (the harness starts its own
# throwaway cluster on a free port; no service is started or configured here).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || { \
	  echo "installing Debian's postgresql for the storage tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }

# The Node example client of the event socket (examples/follow-forum): Debian's nodejs and npm when missing, then its
# one package (ws) from the npm registry, as its package-lock.json pins it.
NODE_EXAMPLE := examples/follow-forum
node: $(NODE_EXAMPLE)/node_modules/.package-lock.json

$(NODE_EXAMPLE)/node_modules/.package-lock.json: $(NODE_EXAMPLE)/package-lock.json
	@command -v npm >/dev/null || { \
	  echo "installing Debian's nodejs and npm for the example's tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	cd $(NODE_EXAMPLE) && npm ci --no-audit --no-fund --silent

# Rasa's own web widget (npm's rasa-webchat, its one prebuilt browser bundle) for the chat's /webchat page: the
# package's tarball from the npm registry, checked against the integrity pinned here, unpacked into bots/static.
WEBCHAT_VERSION := 1.0.1
WEBCHAT_INTEGRITY := sha512-Ld1zVJvTAaTrs6A5p8t70agNNrKYRyXlvqXZRgBoDvKKUXbA0jhJKECi5bdPGlaR6jsmqWtVylHS+YqIqo0x8w==
WEBCHAT_DIR := bots/static/webchat
WEBCHAT_STAMP := $(WEBCHAT_DIR)/.rasa-webchat-$(WEBCHAT_VERSION)
webchat: $(WEBCHAT_STAMP)

$(WEBCHAT_STAMP):
	@command -v npm >/dev/null || { \
	  echo "installing Debian's nodejs and npm to fetch rasa-webchat"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	rm -rf build/webchat && mkdir -p build/webchat $(WEBCHAT_DIR)
	cd build/webchat && npm pack --silent rasa-webchat@$(WEBCHAT_VERSION) >/dev/null
	@python3 -c 'import base64, hashlib, sys; got = "sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode(); sys.exit(0 if got == sys.argv[2] else f"rasa-webchat $(WEBCHAT_VERSION): integrity {got} is not the pinned {sys.argv[2]}")' \
	  build/webchat/rasa-webchat-$(WEBCHAT_VERSION).tgz '$(WEBCHAT_INTEGRITY)'
	tar -xzf build/webchat/rasa-webchat-$(WEBCHAT_VERSION).tgz -C build/webchat package/lib/index.js package/LICENSE
	cp build/webchat/package/lib/index.js $(WEBCHAT_DIR)/rasa-webchat.js
	cp build/webchat/package/LICENSE $(WEBCHAT_DIR)/LICENSE
	rm -f $(WEBCHAT_DIR)/.rasa-webchat-* && touch $@

demo: setup
	$(BIN)/murmur demo

test: setup browser postgres node webchat
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(RASA_VENV) .pytest_cache build *.egg-info
