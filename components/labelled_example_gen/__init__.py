"""LabelledExampleGen: labelled text (CSV, TSV, JSONL) to tf.train.Examples (`text`, `label`)."""

from components.labelled_example_gen.component import LabelledExampleGen, check_split_buckets
from components.labelled_example_gen.reader import (LabelledDataError, check_labelled_data,
                                                    list_data_files, read_labelled, user_splits)

__all__ = ["LabelledExampleGen", "check_split_buckets", "LabelledDataError", "check_labelled_data",
           "read_labelled", "list_data_files", "user_splits"]
