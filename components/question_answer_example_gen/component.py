"""QuestionAnswerExampleGen: a FileBasedExampleGen over SQuAD JSON / JSON Lines."""

from typing import Sequence

from components.labelled_example_gen.component import file_based_example_gen
from components.question_answer_example_gen import reader
from components.question_answer_example_gen.executor import Executor, custom_config
from models.core import features


def QuestionAnswerExampleGen(data_path: str, split_buckets: Sequence[int] = (8, 1, 1),
                             misaligned: str = "error"):
    """Examples (one per question: reader.py, executor.py) from question-answering data.

    `data_path` is a file or a directory of them (all hash-split into train/eval/test with
    `split_buckets` buckets each, by context, so that the questions about one paragraph stay
    in one split and eval never scores a paragraph trained on), or a directory of `train.*`,
    `eval.*` (and optionally `test.*`) files (those are the splits). Call
    `reader.check_qa_data` first to report every problem before the pipeline starts (the
    executor checks the files again)."""
    if misaligned not in reader.MISALIGNED:
        raise ValueError(f"misaligned={misaligned!r}: use one of {', '.join(reader.MISALIGNED)}")
    return file_based_example_gen(data_path, split_buckets, reader, custom_config(misaligned),
                                  Executor, partition_feature_name=features.CONTEXT)
