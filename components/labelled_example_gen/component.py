"""LabelledExampleGen: a FileBasedExampleGen over labelled text (CSV, TSV, JSONL)."""

import os
from typing import Optional, Sequence

from tfx.components import FileBasedExampleGen  # not exported by tfx.v1.components in 1.16
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2

from components.labelled_example_gen import reader
from components.labelled_example_gen.executor import Executor, custom_config
from models.core.settings import ConfigError

SPLITS = ("train", "eval", "test")


def check_split_buckets(split_buckets: Sequence[int]) -> tuple:
    """(train, eval, test) hash buckets: train and eval >= 1, test >= 0 (0: no test split)."""
    buckets = tuple(split_buckets)
    if (len(buckets) != 3 or not all(isinstance(b, int) and not isinstance(b, bool)
                                     for b in buckets)
            or buckets[0] < 1 or buckets[1] < 1 or buckets[2] < 0):
        raise ConfigError(
            f"split_buckets={split_buckets!r}: give three bucket counts for train, eval and test "
            "with train and eval >= 1 and test >= 0 (0: no test split), e.g. 8,1,1.")
    return buckets


def LabelledExampleGen(data_path: str, text_column: str = "text", label_column: str = "label",
                       split_buckets: Sequence[int] = (8, 1, 1),
                       text_pair_column: Optional[str] = None, tsv_quoting: str = "auto"):
    """Examples (`text`, `label`, and `text_pair` with `text_pair_column`) from labelled
    CSV/TSV/JSONL data.

    * `data_path` is a file: its rows are hash-split into `train`/`eval`/`test` with
      `split_buckets` hash buckets each (deterministic: each example's serialized bytes are
      hashed, so the same row always lands in the same split).
    * `data_path` is a directory of `train.*`, `eval.*` (and optionally `test.*`) files: those
      are the splits, kept as they are (`split_buckets` is not used).
    * any other directory: all its top-level data files are hash-split as for one file.

    `text_column` / `label_column` (/ `text_pair_column`) name the input columns (JSONL keys);
    the examples always use `features.TEXT` / `features.LABEL` (/ `features.TEXT_PAIR`). Call
    `check_labelled_data` first to report every bad row and unknown label before the pipeline
    starts (the executor checks the rows again).
    """
    named = [("text_column", text_column), ("label_column", label_column)]
    if text_pair_column is not None:
        named.append(("text_pair_column", text_pair_column))
    for kind, column in named:
        if not isinstance(column, str) or not column.strip():
            raise ValueError(f"{kind} must be a non-empty column name; got {column!r}")
    return file_based_example_gen(
        data_path, split_buckets, reader,
        custom_config(text_column, label_column, text_pair_column, tsv_quoting), Executor)


def file_based_example_gen(data_path: str, split_buckets: Sequence[int], data_reader,
                           config: example_gen_pb2.CustomConfig, executor_class,
                           partition_feature_name: Optional[str] = None):
    """A FileBasedExampleGen over the data files of `data_path` that `data_reader`
    (`list_data_files`, `user_splits`) finds: the user's train/eval(/test) files as the
    splits, or all files hash-split into `split_buckets`; `executor_class` reads them with
    `config`. Shared by the labelled (classification), tagged (token classification) and
    question-answering ExampleGens; `partition_feature_name`: hash-split by this feature's
    value instead of the whole example (TFX's SplitConfig), so that examples sharing it
    stay in one split."""
    buckets = check_split_buckets(split_buckets)
    files = data_reader.list_data_files(data_path)  # raises if missing or without data files
    splits = data_reader.user_splits(data_path)
    output_config = None
    if splits:
        input_base = data_path
        input_config = example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name=name, pattern=pattern)
            for name, pattern in splits.items()])
    else:
        if fileio.isdir(data_path):
            input_base = data_path
            extensions = {os.path.splitext(f)[1] for f in files}
            # The executor only reads data files whatever the pattern; a narrower pattern also
            # keeps other files out of the driver's input fingerprint.
            pattern = f"*{extensions.pop()}" if len(extensions) == 1 else "*"
        else:
            input_base = os.path.dirname(data_path.rstrip("/"))
            if "://" not in data_path:  # keep gs:// and other remote paths as they are
                input_base = os.path.abspath(input_base or ".")
            pattern = os.path.basename(data_path)
        input_config = example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="single_split", pattern=pattern)])
        split_config = example_gen_pb2.SplitConfig(splits=[
            example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=n)
            for name, n in zip(SPLITS, buckets) if n > 0])
        if partition_feature_name:  # TFX reads the field as set even when empty
            split_config.partition_feature_name = partition_feature_name
        output_config = example_gen_pb2.Output(split_config=split_config)
    return FileBasedExampleGen(
        input_base=input_base,
        input_config=input_config,
        output_config=output_config,
        custom_config=config,
        custom_executor_spec=executor_spec.BeamExecutorSpec(executor_class))
