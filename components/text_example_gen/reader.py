"""Reading and validating a plain-text corpus.

A corpus is a directory of UTF-8 text files, read recursively: every non-hidden file in it and
in its subdirectories (hidden files and directories, whose names start with `.`, are skipped
and listed as skipped). Files ending in `.gz`, `.bz2` or `.xz` are decompressed; archives and
other compressions (`.zip`, `.tar`, `.tar.gz`, `.zst`, ...) are refused by name. In each file,
documents are blocks of non-blank lines separated by one or more blank lines; lines end at
`\\n` only (`models/core/text_files.py`). Lines inside a block are kept (joined with "\\n", each
stripped of surrounding whitespace); nothing but the whitespace between blocks is dropped.

`check_corpus_dir` reads every file and reports *all* problems in one `CorpusError`
so that a bad corpus is fixed in one go, before any pipeline work starts; `inspect_corpus_dir`
also returns what was read (files, documents and bytes per file, what was skipped). The
TextExampleGen executor runs the same checks, so bad input also fails at its door.
"""

import dataclasses
import fnmatch
import os
from typing import List, Tuple

from tfx.dsl.io import fileio

from models.core import text_files


class CorpusError(ValueError):
    """The corpus directory or one of its files cannot be used as training text."""


@dataclasses.dataclass
class FileRead:
    """One corpus file as read: documents and UTF-8 bytes (decompressed)."""

    path: str
    documents: int
    bytes: int


@dataclasses.dataclass
class CorpusReport:
    """What `inspect_corpus_dir` read: every file, and the hidden entries it skipped."""

    files: List[FileRead]
    skipped: List[str]

    def to_json(self, max_listed: int = 1000) -> dict:
        """Totals, and the first `max_listed` files and skipped entries (`listed_files` says
        how many are listed, so a corpus of a million files keeps a small summary)."""
        return {"files": len(self.files), "documents": sum(f.documents for f in self.files),
                "bytes": sum(f.bytes for f in self.files),
                "per_file": [dataclasses.asdict(f) for f in self.files[:max_listed]],
                "listed_files": min(len(self.files), max_listed),
                "skipped": list(self.skipped[:max_listed])}


def _is_hidden(path: str) -> bool:
    return os.path.basename(path.rstrip("/")).startswith(".")


def split_documents(text: str) -> List[str]:
    """Splits text into blank-line-separated blocks (lines stripped, joined by newline)."""
    documents, block = [], []
    for line in text_files.split_lines(text):
        line = line.strip()
        if line:
            block.append(line)
        elif block:
            documents.append("\n".join(block))
            block = []
    if block:
        documents.append("\n".join(block))
    return documents


def _read(path: str) -> Tuple[List[str], int]:
    text = text_files.read_utf8(path, CorpusError, reject_binary=True, what_to_do=(
        "convert it to UTF-8 or remove it from the corpus directory"))
    documents = split_documents(text)
    if not documents:
        raise CorpusError(
            f"{path}: contains no documents (the file is empty or only whitespace); "
            "add text or remove it from the corpus directory")
    return documents, len(text.encode("utf-8"))


def read_documents(path: str) -> List[str]:
    """Returns the documents of one UTF-8 text file (decompressed if .gz/.bz2/.xz); raises
    CorpusError if it has none, or is binary, not UTF-8 or an archive."""
    return _read(path)[0]


def walk_corpus(corpus_dir: str) -> Tuple[List[str], List[str]]:
    """(files, skipped): every non-hidden regular file under `corpus_dir`, recursively, sorted
    by path; and the hidden files and directories skipped (directories with a trailing `/`),
    and directory links back into the tree (read once). No validation of content."""
    files, skipped, seen = [], [], set()

    def visit(directory: str) -> None:
        real = os.path.realpath(directory) if "://" not in directory else directory
        if real in seen:  # a symbolic link back up the tree: read each directory once
            skipped.append(directory + "/ (a link to a directory already read)")
            return
        seen.add(real)
        for name in sorted(fileio.listdir(directory)):
            name = name.rstrip("/")  # some filesystems mark directories with a trailing slash
            path = os.path.join(directory, name)
            is_dir = fileio.isdir(path)
            if _is_hidden(name):
                skipped.append(path + ("/" if is_dir else ""))
            elif is_dir:
                visit(path)
            else:
                files.append(path)

    visit(corpus_dir)
    return sorted(files), skipped


def list_corpus_files(corpus_dir: str, pattern: str = "*") -> List[str]:
    """Non-hidden files under `corpus_dir` (recursively, sorted) whose path relative to it
    matches `pattern` (fnmatch: `*` also matches `/`, so `*` is every file)."""
    return [path for path in walk_corpus(corpus_dir)[0]
            if fnmatch.fnmatch(os.path.relpath(path, corpus_dir), pattern)]


def inspect_corpus_dir(corpus_dir: str) -> CorpusReport:
    """Validates a corpus directory and says what it holds: documents and bytes of every file
    (recursively), and the hidden entries skipped.

    Raises one CorpusError listing every problem: a missing directory, a path that is not a
    directory, no (non-hidden) files, and each file that is binary, not UTF-8, an archive or
    empty.
    """
    if not fileio.exists(corpus_dir):
        raise CorpusError(f"corpus directory {corpus_dir} does not exist; "
                          "create it and put UTF-8 text files in it, or fix the path")
    if not fileio.isdir(corpus_dir):
        raise CorpusError(f"corpus directory {corpus_dir} is not a directory; pass the "
                          "directory that holds the text files, not a file")
    files, skipped = walk_corpus(corpus_dir)
    if not files:
        raise CorpusError(f"corpus directory {corpus_dir} has no files (hidden files and "
                          "directories are skipped); add UTF-8 text files to it")
    return CorpusReport(check_files(files, what=f"corpus directory {corpus_dir}"), skipped)


def check_corpus_dir(corpus_dir: str) -> List[str]:
    """Validates a corpus directory (`inspect_corpus_dir`'s errors) and returns its files."""
    return [f.path for f in inspect_corpus_dir(corpus_dir).files]


def check_files(files: List[str], what: str) -> List[FileRead]:
    """Reads every file; returns what each holds or raises one CorpusError listing all bad
    files."""
    problems, read = [], []
    for path in files:
        try:
            documents, size = _read(path)
            read.append(FileRead(path, len(documents), size))
        except CorpusError as e:
            problems.append(str(e))
    if problems:
        raise CorpusError(f"{len(problems)} bad file(s) in {what}:\n  - "
                          + "\n  - ".join(problems))
    return read
