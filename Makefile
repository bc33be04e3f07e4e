# The README's commands. `make reproduce` runs the main job (every notebook, smoke profile);
# `make test` runs every check CI runs. Both create the virtual environment first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= smoke
# extras for the CPU smoke stack (gpu is only for the full profile on a CUDA machine); gguf builds llama-cpp-python
# from source (~4.5 min on 2 cores); docs is nbconvert (a few MB), the site's renderer where Quarto is absent
EXTRAS ?= dev,rl,llm,track,server,gguf,worldmodel,docs
TEST_OUT := build/test-outputs

.PHONY: setup reproduce test lint check-export test-nbs test-py test-nbval test-openenv test-docs docs outputs bench data tiny clean
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: 2.13.0 is a CPU wheel on these machines; an unpinned torch pulls a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	# llama.cpp's converter (inside the llama-cpp-python sdist) into build/, once: chapter 29 and its tests use it
	if [[ ",$(EXTRAS)," == *",gguf,"* ]]; then $(PY) -c "from tradenb.core import Config; \
		from tradenb.dqn_gguf import llama_cpp_converter; print(llama_cpp_converter(Config()))"; fi
	touch $@

reproduce: setup
	$(VENV)/bin/tradenb reproduce --profile $(PROFILE)

# test-nbs is not in the list: test-nbval runs every cell of every notebook, the fast tests included, so running
# the fast cells again in nbdev-test would only cost CI minutes (it stays a target: `make test-nbs`, ~5 min)
test: setup check-export lint test-openenv test-py test-nbval
	@echo "make test: all checks passed"

# nbs/ is the source: exporting and cleaning must leave tradenb/ and nbs/ exactly as they are
check-export: setup
	@before=$$(find tradenb nbs -type f \( -name '*.py' -o -name '*.ipynb' \) -not -path '*/.ipynb_checkpoints/*' | sort | xargs sha256sum | sha256sum); \
	$(VENV)/bin/nbdev-export && $(VENV)/bin/nbdev-clean; \
	after=$$(find tradenb nbs -type f \( -name '*.py' -o -name '*.ipynb' \) -not -path '*/.ipynb_checkpoints/*' | sort | xargs sha256sum | sha256sum); \
	if [ "$$before" != "$$after" ]; then echo "FAIL: nbdev-export/nbdev-clean changed tradenb/ or nbs/: export, clean and commit"; git status --short tradenb nbs; exit 1; fi; \
	echo "export and notebooks clean: ok"

# the layers (import-linter contracts in pyproject.toml) and ruff on the notebooks and the exported library
lint: setup
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check nbs tradenb

# the OpenEnv package (envs/tradenb_env: openenv.yaml, Dockerfile, client, uv.lock, `server` entry, server/app.py
# main()) and a `tradenb serve` started here on 127.0.0.1 (OpenEnv's runtime criteria: health, metadata, schema, MCP,
# mode consistency). No Docker engine is needed: `openenv build` / `openenv push` are documented in its README.
OPENENV_PORT ?= 8765
test-openenv: setup
	$(VENV)/bin/openenv validate envs/tradenb_env
	@$(VENV)/bin/tradenb serve --host 127.0.0.1 --port $(OPENENV_PORT) & pid=$$!; \
	for i in $$(seq 1 100); do curl -sf http://127.0.0.1:$(OPENENV_PORT)/health >/dev/null && break; sleep 0.2; done; \
	$(VENV)/bin/openenv validate --url http://127.0.0.1:$(OPENENV_PORT); rc=$$?; kill $$pid; exit $$rc

# the notebooks' inline tests; `#| slow` cells (training) are skipped
test-nbs: setup
	$(VENV)/bin/nbdev-test --n-workers 2

# pytest exits 5 when it collects no tests: that is a failure here, not a pass.
# Coverage below [tool.coverage.report] fail_under in pyproject.toml fails the run.
test-py: setup
	@$(PY) -m pytest tests -n 2 --cov=tradenb --cov-report=term; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "FAIL: pytest collected no tests"; exit 1; fi; exit $$rc

# every notebook end to end, once: nbval executes the committed notebooks (copies of nbs/*.ipynb with execution counts
# where they have outputs: scripts/nbval_copies.py) (every cell, `#| slow` included, in order:
# a chapter reads what earlier ones wrote) with TRADENB_OUTPUT_DIR set, so their results/, figures/ and datasets go to
# $(TEST_OUT) and the checkout's results/ and figures/ are never overwritten; the committed outputs of cells marked
# NBVAL_CHECK_OUTPUT are compared with the fresh ones (--nbval-lax); seconds per notebook go to $(TEST_OUT)/results/
# reproduce_timings.csv (scripts/nbval_timings.py). Then the tables the run wrote are compared with the
# committed results/ (as of HEAD), timings and provenance columns excluded. The 20 slowest cells are listed.
NBVAL_CELL_TIMEOUT ?= 3600
test-nbval: setup
	rm -rf $(TEST_OUT) && mkdir -p $(TEST_OUT)
	$(PY) scripts/nbval_copies.py build/nbval
	TRADENB_PROFILE=smoke TRADENB_OUTPUT_DIR=$(abspath $(TEST_OUT)) $(PY) -m pytest --nbval-lax --nbval-current-env \
		--nbval-cell-timeout $(NBVAL_CELL_TIMEOUT) -p no:randomly -p no:cacheprovider -q --durations 20 \
		--junitxml $(TEST_OUT)/nbval.xml build/nbval/[0-9][0-9]_*.ipynb; \
		rc=$$?; $(PY) scripts/nbval_timings.py $(TEST_OUT)/nbval.xml $(TEST_OUT)/results/reproduce_timings.csv; exit $$rc
	rm -rf build/committed && mkdir -p build/committed && git archive HEAD results | tar -x -C build/committed
	$(PY) scripts/compare_results.py build/committed/results $(TEST_OUT)/results

# The committed notebooks' outputs (what a reader sees on a code host and what the docs render): every fast cell
# runs once (nbdev-test --save on copies of nbs/: no `#| slow`, no `#| eval: false`), with its outputs directed to
# $(OUTPUTS_RUN)/out, where the committed results/ and figures/ are copied first so the chapters that read them find
# them; then scripts/commit_outputs.py --fast-cells copies every code cell's outputs into nbs/ (slow cells keep none)
# and nbdev-clean strips what it strips. Re-run after a change that moves a fast cell's output; commit nbs/.
OUTPUTS_RUN := build/outputs-run
outputs: setup
	rm -rf $(OUTPUTS_RUN) && mkdir -p $(OUTPUTS_RUN)/nbs $(OUTPUTS_RUN)/out
	cp nbs/[0-9][0-9]_*.ipynb $(OUTPUTS_RUN)/nbs/ && cp -r results figures $(OUTPUTS_RUN)/out/
	TRADENB_PROFILE=smoke TRADENB_OUTPUT_DIR=$(abspath $(OUTPUTS_RUN)/out) $(VENV)/bin/nbdev-test \
		$(OUTPUTS_RUN)/nbs --n-workers 2 --save
	$(PY) scripts/commit_outputs.py $(OUTPUTS_RUN)/nbs --fast-cells
	$(VENV)/bin/nbdev-clean

# The documentation site in _docs/ (scripts/build_docs.py): nbdev prepares the pages from nbs/ as committed (API docs
# from show_doc; no notebook is executed), Quarto renders them where a `quarto` binary is found, else nbconvert.
# The `quarto` extra (quarto-cli) is tried once per venv: its build downloads Quarto from github.com, which fails
# on machines without general internet access (then .venv/.quarto-tried records the attempt and nbconvert renders).
DOCS_OUT ?= _docs
docs: setup
	@$(PY) -c "import nbconvert" 2>/dev/null || $(PY) -m pip install -q -e ".[docs]"
	@if ! command -v quarto >/dev/null && [ ! -e $(VENV)/.quarto-tried ]; then \
		echo "docs: trying the quarto extra (quarto-cli downloads its binary while it builds)"; \
		$(PY) -m pip install -q -e ".[quarto]" >/dev/null 2>&1 || echo "docs: quarto-cli did not install: nbconvert renders"; \
		touch $(VENV)/.quarto-tried; fi
	$(PY) scripts/build_docs.py --out $(DOCS_OUT)

# builds the site, then checks the index and the paper chapter's page: every <img> resolves, no error block, and
# Debian's headless Chromium renders them (screenshots in build/docs-screens/; apt-get installs it when missing)
test-docs: docs
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -q && apt-get install -y -q chromium; } \
		|| { echo "FAIL: no chromium and no root to apt-get install it"; exit 1; }
	$(PY) scripts/check_docs.py $(DOCS_OUT) --screens build/docs-screens

bench: setup
	$(VENV)/bin/tradenb bench env

# rebuild the shipped tiny base (models/tiny/: weights, tokenizer, tradenb_tiny.json with its provenance) from the
# seed; ~20 min on 1 thread (copy drill, easy chats, all tasks). tests/test_lm.py checks that it reproduces the shipped conversations and first losses.
tiny: setup
	$(PY) -c "from tradenb.core import Config; from tradenb.lm import build_tiny_lm; build_tiny_lm(Config(), threads=1, progress=True)"

# rebuild data/*.parquet from the unmodified upstream CSVs in data/raw/
data: setup
	$(PY) -c "from tradenb.data import build_shipped_panels; print(build_shipped_panels())"

clean:
	rm -rf build $(VENV) _docs _proc
