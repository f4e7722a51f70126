"""TaggedExampleGen: a FileBasedExampleGen over tagged sentences (CoNLL, CoNLL-U-like, JSONL)."""

from typing import Optional, Sequence

from components.labelled_example_gen.component import file_based_example_gen
from components.tagged_example_gen import reader
from components.tagged_example_gen.executor import Executor, custom_config


def TaggedExampleGen(data_path: str, scheme: str = "iob2", token_column: Optional[str] = None,
                     tag_column: Optional[str] = None,
                     split_buckets: Sequence[int] = (8, 1, 1)):
    """Examples (`tokens`, `tags` in IOB2: bytes lists) from tagged data (reader.py).

    `data_path` is a file (its sentences hash-split into train/eval/test with `split_buckets`
    buckets each), a directory of `train.*`, `eval.*` (and optionally `test.*`) files (those
    are the splits), or any other directory (all its tagged files hash-split). Call
    `reader.check_tagged_data` first to report every problem before the pipeline starts (the
    executor checks the files again)."""
    if scheme not in reader.SCHEMES:
        raise ValueError(f"scheme={scheme!r}: use one of {', '.join(reader.SCHEMES)}")
    return file_based_example_gen(data_path, split_buckets, reader,
                                  custom_config(scheme, token_column, tag_column), Executor)
