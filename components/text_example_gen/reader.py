"""Reading and validating a plain-text corpus.

A corpus is a directory of UTF-8 text files. In each file, documents are blocks of
non-blank lines separated by one or more blank lines. Lines inside a block are kept
(joined with "\\n", each stripped of surrounding whitespace); nothing but the
whitespace between blocks is dropped.

`check_corpus_dir` reads every file and reports *all* problems in one `CorpusError`
so that a bad corpus is fixed in one go, before any pipeline work starts. The
TextExampleGen executor runs the same checks, so bad input also fails at its door.
"""

import os
from typing import List

from tfx.dsl.io import fileio

from models import text_files


class CorpusError(ValueError):
    """The corpus directory or one of its files cannot be used as training text."""


def _is_hidden(path: str) -> bool:
    return os.path.basename(path.rstrip("/")).startswith(".")


def split_documents(text: str) -> List[str]:
    """Splits text into blank-line-separated blocks (lines stripped, joined by newline)."""
    documents, block = [], []
    for line in text.splitlines():
        line = line.strip()
        if line:
            block.append(line)
        elif block:
            documents.append("\n".join(block))
            block = []
    if block:
        documents.append("\n".join(block))
    return documents


def read_documents(path: str) -> List[str]:
    """Returns the documents of one UTF-8 text file; raises CorpusError if it has none."""
    text = text_files.read_utf8(path, CorpusError, reject_binary=True, what_to_do=(
        "convert it to UTF-8 or remove it from the corpus directory"))
    documents = split_documents(text)
    if not documents:
        raise CorpusError(
            f"{path}: contains no documents (the file is empty or only whitespace); "
            "add text or remove it from the corpus directory")
    return documents


def list_corpus_files(corpus_dir: str) -> List[str]:
    """Top-level regular, non-hidden files of `corpus_dir`, sorted (no validation of content)."""
    names = sorted(fileio.listdir(corpus_dir))
    files = []
    for name in names:
        name = name.rstrip("/")  # some filesystems mark directories with a trailing slash
        path = os.path.join(corpus_dir, name)
        if _is_hidden(name) or fileio.isdir(path):
            continue
        files.append(path)
    return files


def check_corpus_dir(corpus_dir: str) -> List[str]:
    """Validates a corpus directory and returns its files (sorted paths).

    Raises one CorpusError listing every problem: a missing directory, a path that is not a
    directory, no (non-hidden) files, and each file that is binary, not UTF-8, or empty.
    """
    if not fileio.exists(corpus_dir):
        raise CorpusError(f"corpus directory {corpus_dir} does not exist; "
                          "create it and put UTF-8 text files in it, or fix the path")
    if not fileio.isdir(corpus_dir):
        raise CorpusError(f"corpus directory {corpus_dir} is not a directory; pass the "
                          "directory that holds the text files, not a file")
    files = list_corpus_files(corpus_dir)
    if not files:
        raise CorpusError(f"corpus directory {corpus_dir} has no files (hidden files and "
                          "subdirectories are ignored); add UTF-8 text files to it")
    check_files(files, what=f"corpus directory {corpus_dir}")
    return files


def check_files(files: List[str], what: str) -> None:
    """Runs read_documents on every file; raises one CorpusError listing all bad files."""
    problems = []
    for path in files:
        try:
            read_documents(path)
        except CorpusError as e:
            problems.append(str(e))
    if problems:
        raise CorpusError(f"{len(problems)} bad file(s) in {what}:\n  - "
                          + "\n  - ".join(problems))
