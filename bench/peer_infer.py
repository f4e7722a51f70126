"""Hugging Face's `pipeline("text-classification")` on a BertForSequenceClassification of the
same size and vocabulary as our classifier (random weights: speed does not depend on them),
with a BertTokenizerFast on our vocab.txt: p50/p99 latency at batch 1, sequences/second at
batch 32. Runs in .venv-peer (Python 3.11).

    .venv-peer/bin/python bench/peer_infer.py --vocab VOCAB.txt --size tiny --seq-length 128
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.infer_common import review_texts, summarize  # noqa: E402
from bench.train_common import SIZES  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vocab", required=True)
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()

    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)

    layers, hidden, heads = SIZES[args.size]
    # vocab=, not vocab_file=: transformers 5 ignores vocab_file here and builds a five-token
    # vocabulary (every word [UNK], shorter sequences than the real tokenizer gives).
    tokenizer = transformers.BertTokenizerFast(vocab=args.vocab, do_lower_case=True)
    with open(args.vocab, encoding="utf-8") as f:
        assert tokenizer.vocab_size == sum(1 for _ in f), "the tokenizer lost the vocabulary"
    config = transformers.BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=4 * hidden,
        max_position_embeddings=args.seq_length, num_labels=2)
    model = transformers.BertForSequenceClassification(config).eval()
    classify = transformers.pipeline("text-classification", model=model, tokenizer=tokenizer,
                                     device="cpu", truncation=True, max_length=args.seq_length)
    texts = review_texts(args.calls + 32 * args.batches)
    with torch.inference_mode():
        for text in texts[:20]:
            classify(text)
        latencies = []
        for text in texts[:args.calls]:
            start = time.perf_counter()
            classify(text)
            latencies.append(time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(args.batches):
            classify(texts[i * 32:(i + 1) * 32], batch_size=32)
        seconds = time.perf_counter() - start
    print(json.dumps({"impl": "peer", **summarize(latencies),
                      "batch32_sequences_per_second": 32 * args.batches / seconds,
                      "torch_threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
