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
RASA_REQUIREMENTS := bots/dialogue/rasa/requirements.txt

.PHONY: setup demo test docs system browser postgres node webchat clean $(RASA_VENV)

setup: $(STAMP) $(RASA_VENV)

# Reinstall only when the project's declared dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,ray,docs,reference]'
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

# What the tests need from Debian, installed in one apt run when any is missing: chromium (the browser tests drive it;
# Playwright's own browser download cannot reach the network here), PostgreSQL's server binaries (the storage tests
# start their own throwaway cluster on a free port; no service is started or configured), nodejs and npm (the Node
# example client, and fetching rasa-webchat).
system:
	@need=""; \
	test -x $(CHROMIUM) || need="$$need chromium"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || need="$$need postgresql"; \
	command -v npm >/dev/null || need="$$need nodejs npm"; \
	if [ -n "$$need" ]; then \
	  echo "installing Debian's$$need for the tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$need >/dev/null; \
	fi
browser postgres: system

# The Node example client of the event socket (examples/follow-forum): its one package (ws) from the npm registry, as
# its package-lock.json pins it.
NODE_EXAMPLE := examples/follow-forum
node: $(NODE_EXAMPLE)/node_modules/.package-lock.json

$(NODE_EXAMPLE)/node_modules/.package-lock.json: $(NODE_EXAMPLE)/package-lock.json | system
	cd $(NODE_EXAMPLE) && npm ci --no-audit --no-fund --silent

# Rasa's own web widget (npm's rasa-webchat, its one prebuilt browser bundle) for the chat's /webchat page: the
# package's tarball from the npm registry, checked against the integrity pinned here, unpacked into bots/chat/static.
WEBCHAT_VERSION := 1.0.1
WEBCHAT_INTEGRITY := sha512-Ld1zVJvTAaTrs6A5p8t70agNNrKYRyXlvqXZRgBoDvKKUXbA0jhJKECi5bdPGlaR6jsmqWtVylHS+YqIqo0x8w==
WEBCHAT_DIR := bots/chat/static/webchat
WEBCHAT_STAMP := $(WEBCHAT_DIR)/.rasa-webchat-$(WEBCHAT_VERSION)
webchat: $(WEBCHAT_STAMP)

$(WEBCHAT_STAMP): | system
	rm -rf build/webchat && mkdir -p build/webchat $(WEBCHAT_DIR)
	cd build/webchat && npm pack --silent rasa-webchat@$(WEBCHAT_VERSION) >/dev/null
	@python3 -c 'import base64, hashlib, sys; got = "sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode(); sys.exit(0 if got == sys.argv[2] else f"rasa-webchat $(WEBCHAT_VERSION): integrity {got} is not the pinned {sys.argv[2]}")' \
	  build/webchat/rasa-webchat-$(WEBCHAT_VERSION).tgz '$(WEBCHAT_INTEGRITY)'
	tar -xzf build/webchat/rasa-webchat-$(WEBCHAT_VERSION).tgz -C build/webchat package/lib/index.js package/LICENSE
	cp build/webchat/package/lib/index.js $(WEBCHAT_DIR)/rasa-webchat.js
	cp build/webchat/package/LICENSE $(WEBCHAT_DIR)/LICENSE
	rm -f $(WEBCHAT_DIR)/.rasa-webchat-* && touch $@

# The two Python environments install side by side, as for the tests.
demo:
	@$(MAKE) --no-print-directory -j2 --output-sync=target setup
	$(BIN)/murmur demo

# The manual: docs/ as a site in build/docs (mkdocs.yml). --strict fails on a broken link or anchor between pages
# and on a page missing from the nav; a second or so. Not --quiet: it hides the warnings that --strict counts.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The two Python environments, Debian's packages and the npm ones install side by side (-j), each step's output kept
# together, and the manual is built (a broken link fails here); then the tests run.
# The packages whose shape is held by lint (ruff, with import order) and types (mypy); more join as they are typed.
LINTED := bots/swarm bots/chat bots/campaigns.py core murmur/swarm_job.py murmur/campaign_report.py murmur/campaign_commands.py \
	detection/coordination.py detection/shaping.py detection/toolkit.py

test:
	@$(MAKE) --no-print-directory -j4 --output-sync=target setup node webchat docs
	$(BIN)/ruff check $(LINTED)
	$(BIN)/mypy $(LINTED)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(RASA_VENV) .pytest_cache build *.egg-info
