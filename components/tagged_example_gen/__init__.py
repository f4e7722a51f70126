"""TaggedExampleGen: tagged sentences (CoNLL, CoNLL-U-like, JSONL) to tf.train.Examples
(`tokens`, `tags` in IOB2)."""

from components.tagged_example_gen.component import TaggedExampleGen
from components.tagged_example_gen.reader import (TaggedDataError, check_tagged_data,
                                                  read_tagged, to_iob2)

__all__ = ["TaggedExampleGen", "TaggedDataError", "check_tagged_data", "read_tagged", "to_iob2"]
