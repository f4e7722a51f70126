"""Hugging Face's preprocessing, raw text to masked training examples, as run_mlm.py does it:
tokenizers' BertWordPieceTokenizer (our vocabulary, lower-casing, accent stripping) over every
document, concatenation into 128-token blocks, then DataCollatorForLanguageModeling (15%,
80/10/10). Runs in .venv-peer (Python 3.11), one process.

    .venv-peer/bin/python bench/peer_preprocess.py --corpus ../shared/datasets/corpus --vocab V
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.preprocess_common import corpus_documents  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--vocab", required=True)
    parser.add_argument("--seq-length", type=int, default=128)
    args = parser.parse_args()

    import tokenizers
    import transformers

    documents, size = corpus_documents(args.corpus)
    fast = tokenizers.BertWordPieceTokenizer(args.vocab, lowercase=True, strip_accents=True)
    hf_tokenizer = transformers.BertTokenizerFast(vocab_file=args.vocab, do_lower_case=True)
    collator = transformers.DataCollatorForLanguageModeling(hf_tokenizer, mlm_probability=0.15,
                                                            return_tensors="pt")
    start = time.perf_counter()
    encodings = fast.encode_batch(documents, add_special_tokens=False)
    block = args.seq_length - 2
    ids = [i for e in encodings for i in e.ids]
    cls, sep = hf_tokenizer.cls_token_id, hf_tokenizer.sep_token_id
    examples = [{"input_ids": [cls] + ids[i:i + block] + [sep]}
                for i in range(0, len(ids) - block + 1, block)]
    for i in range(0, len(examples), 256):
        collator(examples[i:i + 256])
    seconds = time.perf_counter() - start
    print(json.dumps({"impl": "peer", "documents": len(documents), "mb": size / 1e6,
                      "seconds": seconds, "windows": len(examples),
                      "documents_per_second": len(documents) / seconds,
                      "mb_per_second": size / 1e6 / seconds,
                      "tokenizers": tokenizers.__version__}))


if __name__ == "__main__":
    main()
