"""Shared by the preprocessing benchmarks (no TensorFlow or torch imports here): the corpus
as files, and as documents the way TextExampleGen splits it (blank-line blocks)."""

import os


def corpus_files(corpus_dir):
    return [os.path.join(corpus_dir, name) for name in sorted(os.listdir(corpus_dir))
            if not name.startswith(".") and os.path.isfile(os.path.join(corpus_dir, name))]


def corpus_documents(corpus_dir):
    documents, size = [], 0
    for path in corpus_files(corpus_dir):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        size += len(text.encode("utf-8"))
        documents.extend(block.strip() for block in text.split("\n\n") if block.strip())
    return documents, size
