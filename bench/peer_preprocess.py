"""Hugging Face's preprocessing, raw text to masked training examples, as run_mlm.py does it:
tokenizers' BertWordPieceTokenizer (lower-casing, accent stripping) over the documents in
batches of 1,000 (as `datasets.map(batched=True)` would feed it), concatenation into 128-token
blocks, then DataCollatorForLanguageModeling (15%, 80/10/10) on batches of 256 blocks. Runs in
.venv-peer (Python 3.11), one process.

With `--vocab` it uses that vocabulary (ours, for a like-for-like tokenizer); with
`--train-vocab-size` it first learns one with `BertWordPieceTokenizer.train` on the corpus
files, as a user of tokenizers would (bench/preprocess_scaling.py: vocabulary included).

    .venv-peer/bin/python bench/peer_preprocess.py --corpus ../shared/datasets/corpus --vocab V
    .venv-peer/bin/python bench/peer_preprocess.py --corpus C --train-vocab-size 8000
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.preprocess_common import corpus_documents, corpus_files  # noqa: E402

DOCUMENT_BATCH = 1000  # datasets.map's default batch size
COLLATOR_BATCH = 256


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", required=True)
    vocab = parser.add_mutually_exclusive_group(required=True)
    vocab.add_argument("--vocab", help="an existing vocab.txt")
    vocab.add_argument("--train-vocab-size", type=int, help="learn a vocabulary of this size")
    parser.add_argument("--seq-length", type=int, default=128)
    args = parser.parse_args()

    import tokenizers
    import transformers

    seconds = {}
    vocab_file = args.vocab
    if args.train_vocab_size:
        start = time.perf_counter()
        learner = tokenizers.BertWordPieceTokenizer(lowercase=True, strip_accents=True)
        learner.train(corpus_files(args.corpus), vocab_size=args.train_vocab_size,
                      min_frequency=2, show_progress=False)
        seconds["vocabulary"] = time.perf_counter() - start
        vocab_file = os.path.join(tempfile.mkdtemp(prefix="peer-vocab-"), "vocab.txt")
        with open(vocab_file, "w", encoding="utf-8") as f:
            f.writelines(token + "\n" for token, _ in
                         sorted(learner.get_vocab().items(), key=lambda kv: kv[1]))

    documents, size = corpus_documents(args.corpus)
    fast = tokenizers.BertWordPieceTokenizer(vocab_file, lowercase=True, strip_accents=True)
    # transformers 5 ignores `vocab_file=` (a five-token vocabulary): `vocab=` it is.
    hf_tokenizer = transformers.BertTokenizerFast(vocab=vocab_file, do_lower_case=True)
    assert len(hf_tokenizer) == fast.get_vocab_size(), (len(hf_tokenizer), fast.get_vocab_size())
    collator = transformers.DataCollatorForLanguageModeling(hf_tokenizer, mlm_probability=0.15,
                                                            return_tensors="pt")
    cls, sep = hf_tokenizer.cls_token_id, hf_tokenizer.sep_token_id
    block = args.seq_length - 2
    tokenize_seconds = collate_seconds = 0.0
    windows, carry, pending = 0, [], []
    for i in range(0, len(documents), DOCUMENT_BATCH):
        start = time.perf_counter()
        for encoding in fast.encode_batch(documents[i:i + DOCUMENT_BATCH],
                                          add_special_tokens=False):
            carry.extend(encoding.ids)
        full = len(carry) // block * block
        pending.extend({"input_ids": [cls] + carry[j:j + block] + [sep]}
                       for j in range(0, full, block))
        carry = carry[full:]
        tokenize_seconds += time.perf_counter() - start
        start = time.perf_counter()
        while len(pending) >= COLLATOR_BATCH or (pending and i + DOCUMENT_BATCH >= len(documents)):
            collator(pending[:COLLATOR_BATCH])
            windows += len(pending[:COLLATOR_BATCH])
            del pending[:COLLATOR_BATCH]
        collate_seconds += time.perf_counter() - start
    seconds["tokenize"], seconds["mask"] = tokenize_seconds, collate_seconds
    total = sum(seconds.values())
    print(json.dumps({"impl": "peer", "documents": len(documents), "mb": size / 1e6,
                      "seconds": total, "stage_seconds": seconds, "windows": windows,
                      "vocab_size": fast.get_vocab_size(),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "documents_per_second": len(documents) / total,
                      "mb_per_second": size / 1e6 / total,
                      "tokenizers": tokenizers.__version__}))


if __name__ == "__main__":
    main()
