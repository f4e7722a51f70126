# Quick start: `make demo` (pretrain on the bundled corpus), `make test` (the whole suite).
# Both create .venv/ with the pinned stack on first use and reuse it afterwards.

VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat setup.py pyproject.toml constraints.txt | cksum | cut -d" " -f1)
DEMO_DIR := runs/demo
PYTEST_ARGS ?=

.PHONY: demo test venv clean

venv: $(STAMP)

$(STAMP): setup.py pyproject.toml constraints.txt
	@PY="$$(PYTHON="$(PYTHON)" .ci/find_python.sh)" || exit 1; \
	if [ ! -x $(VENV)/bin/python ]; then echo "Creating $(VENV) with $$PY"; "$$PY" -m venv $(VENV); fi
	$(VENV)/bin/pip install --quiet "pip==24.3.1"
	$(VENV)/bin/pip install --quiet -c constraints.txt -e ".[test]"
	rm -f $(VENV)/.installed-*; touch $@

demo: $(STAMP)
	$(VENV)/bin/lmpipe pretrain --corpus data/corpus --run-dir $(DEMO_DIR)/pretrain \
	    --summary $(DEMO_DIR)/summary.json \
	    --vocab-size 4000 --seq-length 128 --model-size tiny --train-steps 1500 --batch-size 32
	$(VENV)/bin/lmpipe finetune --data data/sentiment/rotten_tomatoes_sample.tsv \
	    --pretrained $(DEMO_DIR)/pretrain --run-dir $(DEMO_DIR)/finetune \
	    --summary $(DEMO_DIR)/summary.json \
	    --seq-length 64 --train-steps 600 --checkpoint-every 100 --batch-size 32 \
	    --learning-rate 1e-4 --early-stopping-patience 2 --min-accuracy 0.6

test: $(STAMP)
	$(VENV)/bin/pytest -v $(PYTEST_ARGS)

clean:
	rm -rf runs
