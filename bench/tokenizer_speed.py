"""Tokenizer throughput, this checkout against the tokenizer of another revision (in-process,
one thread of work, 512-line batches of the bundled Brown text, a vocabulary of 3,392 learned
by `make demo` or any `vocab.txt`). Run by hand:

    .venv/bin/python bench/tokenizer_speed.py --before 17a80d6 --vocab VOCAB_TXT

Prints words and tokens per second for both (best of 3 passes over 20,000 lines).
"""

import argparse
import glob
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def throughput(tokenize, texts):
    import tensorflow as tf

    fn = tf.function(lambda x: tokenize(x).flat_values)
    batches = [tf.constant(texts[i:i + 512]) for i in range(0, len(texts), 512)]
    fn(batches[0])
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        tokens = sum(int(tf.size(fn(b))) for b in batches)
        best = min(best, time.perf_counter() - start)
    words = sum(len(t.split()) for t in texts)
    return {"words_per_second": round(words / best), "tokens_per_second": round(tokens / best)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True, help="a git revision")
    parser.add_argument("--vocab", default=None, help="default: the demo run's vocabulary")
    args = parser.parse_args()
    from models.tokenizers import wordpiece as tokenization

    vocab_file = args.vocab or sorted(glob.glob(os.path.join(
        REPO, "runs/demo/pretrain/pipeline/WordPieceVocabGen/vocabulary/*/vocab.txt")))[-1]
    vocab = tokenization.read_vocab(vocab_file)
    with open(os.path.join(REPO, "data/corpus/brown.txt"), encoding="utf-8") as f:
        lines = [line for line in f.read().split("\n") if line.strip()]
    texts = (lines * 20)[:20000]
    source = subprocess.run(["git", "show", f"{args.before}:models/tokenizers/wordpiece.py"],
                            capture_output=True, text=True, check=True, cwd=REPO).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location("tokenization_before", f.name)
    before = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(before)
    old = (before.WordpieceTokenizer(vocab) if hasattr(before, "WordpieceTokenizer")
           else before.Tokenizer(vocab))
    print(json.dumps({"vocab_size": len(vocab), "lines": len(texts),
                      args.before: throughput(old.tokenize, texts),
                      "now": throughput(tokenization.Tokenizer(vocab).tokenize, texts)}, indent=2))


if __name__ == "__main__":
    main()
