# postatlas: `make demo` and `make test` work on a fresh machine; everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_PIN := torch==2.13.0
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install demo test test-fast bench lint clean language-model chromium

install: $(STAMP)

# torch is pinned and installed first: an unpinned torch would pull several GB of CUDA wheels.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_PIN)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@$(MAKE) --no-print-directory chromium
	touch $(STAMP)

# The report tests open the HTML reports in Debian's Chromium; installed here when missing and run as root
# (otherwise those tests are skipped, saying how to install it).
chromium:
	@if command -v chromium >/dev/null 2>&1 || [ -x /usr/lib/chromium/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the report tests"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "could not install chromium: the report tests will be skipped"; \
	else echo "no chromium (sudo apt-get install chromium): the report tests will be skipped"; fi

demo: install
	$(BIN)/postatlas demo

test: install
	$(BIN)/python -m pytest -m "not bench" tests

test-fast: install
	$(BIN)/python -m pytest -m "not bench and not integration" tests

bench: install
	$(BIN)/python tests/bench/run_benchmarks.py
	$(BIN)/python tests/bench/bench_language.py
	$(BIN)/python tests/bench/bench_collect.py
	$(BIN)/python tests/bench/bench_dask.py
	$(BIN)/python tests/bench/bench_training.py
	$(BIN)/python tests/bench/bench_encoders.py
	$(BIN)/python tests/bench/bench_clustering.py
	$(BIN)/python tests/bench/bench_cluster_command.py --posts 1000000
	$(BIN)/python tests/bench/bench_cluster_command.py --posts 1000000 --assign 100000
	$(BIN)/python tests/bench/bench_joint.py
	$(BIN)/python tests/bench/bench_analyst_copy.py

# The language model that ships with postatlas (storage/language_weights/tweetlid.npz): TweetLID's train file,
# beside the checkout, ingested into a scratch home and fitted by the same command users run on their own labels.
TWEETLID ?= ../shared/data/tweetlid/train_complete_clean.txt
language-model: install
	rm -rf build/language-home
	$(BIN)/postatlas --home build/language-home ingest table $(TWEETLID) --platform twitter \
		--columns id,user,lang,text --map id=id --map text=text --map author=user --label lang=lang
	$(BIN)/postatlas --home build/language-home train language --labels lang --languages es,ca,en \
		--out storage/language_weights/tweetlid.npz

lint: install
	$(BIN)/ruff check flows tasks storage models deployments tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# Operating it (deployments/README.md): a local Prefect server on 127.0.0.1 with one process worker per pool
# (pools cpu, gpu; logs and pids under $POSTATLAS_HOME/ops), then the pools, the warehouse concurrency limit
# and the deployments of deployments/prefect.yaml. `make stop` stops what `make serve` started.
PREFECT_PORT ?= 4200
OPS := $(BIN)/python -m deployments.ops

.PHONY: serve deploy stop

serve: install
	$(OPS) serve --port $(PREFECT_PORT)

deploy: install
	$(OPS) deploy --port $(PREFECT_PORT)

stop:
	$(OPS) stop
