"""Shared by the preprocessing benchmarks (no TensorFlow or torch imports here): the corpus
as documents, the way TextExampleGen splits it (blank-line blocks)."""

import os


def corpus_documents(corpus_dir):
    documents, size = [], 0
    for name in sorted(os.listdir(corpus_dir)):
        path = os.path.join(corpus_dir, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        size += len(text.encode("utf-8"))
        documents.extend(block.strip() for block in text.split("\n\n") if block.strip())
    return documents, size
