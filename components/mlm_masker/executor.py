"""Beam executor of the MlmMasker component.

Reads the Transform output (``features.PACKED_IDS`` per tf.Example), splits it into
windows and writes BERT-style masked-LM tf.Examples (see ``masking.py``), plus
per-split statistics in ``mlm_stats.json``.
"""

from __future__ import annotations

import collections
import json
import os
import struct
from typing import Any, Dict, Iterator, List, Optional, Tuple

import apache_beam as beam
import numpy as np
import tensorflow as tf
from absl import logging
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.mlm_masker import masking
from models.core import features
from models.tokenizers.wordpiece import SpecialIds, read_vocab

# Keys of input_dict / output_dict / exec_properties.
EXAMPLES_KEY = "examples"
VOCABULARY_KEY = "vocabulary"
MASKED_EXAMPLES_KEY = "masked_examples"
SEQ_LENGTH_KEY = "seq_length"
MASK_RATE_KEY = "mask_rate"
MAX_PREDICTIONS_KEY = "max_predictions"
DUPE_FACTOR_KEY = "dupe_factor"
SEED_KEY = "seed"
WHOLE_WORD_KEY = "whole_word_masking"

TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"
STATS_FILE = "mlm_stats.json"
OUTPUT_FILE_PREFIX = "masked"
OUTPUT_FILE_SUFFIX = ".tfrecord.gz"


def read_vocabulary(vocab_uri: str) -> Tuple[int, SpecialIds, np.ndarray]:
    """The size of ``<vocab_uri>/vocab.txt``, where it puts the special tokens, and which ids
    are ``##`` continuation pieces."""
    path = os.path.join(vocab_uri, features.VOCAB_FILE)
    vocab = read_vocab(path)
    continuation = np.array([token.startswith("##") for token in vocab], dtype=bool)
    return len(vocab), SpecialIds.of(vocab, path), continuation


def window_key(window: np.ndarray, index: int) -> bytes:
    """The rng key of a window: its int64 little-endian bytes plus its index."""
    return np.asarray(window, dtype="<i8").tobytes() + struct.pack("<q", index)


_INT_FEATURES = (features.TOKEN_IDS, features.PADDING_MASK, features.MASK_POSITIONS,
                 features.MASK_IDS)


def _to_tf_examples(columns: Dict[str, np.ndarray]) -> List[bytes]:
    """Masked windows (a ``[rows, width]`` array per feature) to serialized tf.Examples, all at
    once: one Arrow record batch through tfx-bsl's C++ encoder, several times faster than a
    proto per row."""
    import pyarrow as pa
    from tfx_bsl.coders import example_coder

    def column(name, arrow_type):
        values = columns[name]
        offsets = np.arange(0, values.size + 1, values.shape[1], dtype=np.int64)
        return pa.LargeListArray.from_arrays(pa.array(offsets),
                                             pa.array(values.reshape(-1), type=arrow_type))

    names = [*_INT_FEATURES, features.MASK_WEIGHTS]
    arrays = [column(name, pa.int64()) for name in _INT_FEATURES]
    arrays.append(column(features.MASK_WEIGHTS, pa.float32()))
    return example_coder.RecordBatchToExamplesEncoder().encode(
        pa.RecordBatch.from_arrays(arrays, names))


class _MaskExampleDoFn(beam.DoFn):
    """A batch of serialized input tf.Examples -> serialized masked examples (main) + the
    batch's statistics (tagged): windows, examples, masked positions and the count of each
    masked id, one small tuple per batch rather than one element per masked token."""

    STATS_TAG = "stats"

    def __init__(self, seq_length: int, vocab_size: int, special: SpecialIds, mask_rate: float,
                 max_predictions: int, dupes: int, seed: int,
                 continuation: Optional[np.ndarray] = None):
        self._continuation = continuation  # whole-word masking when given
        self._seq_length = seq_length
        self._vocab_size = vocab_size
        self._special = special
        self._mask_rate = mask_rate
        self._max_predictions = max_predictions
        self._dupes = dupes
        self._seed = seed

    def setup(self):
        from tfx_bsl.coders import example_coder

        self._decoder = example_coder.ExamplesToRecordBatchDecoder()

    def process(self, batch: List[bytes]) -> Iterator[Any]:
        parts, windows_seen = [], 0
        for packed in self._packed_ids(batch):
            windows = masking.split_windows(packed, self._seq_length)
            windows_seen += len(windows)
            if self._continuation is None:
                # All of a document's windows at once, with a generator keyed by its ids.
                key = np.asarray(windows, dtype="<i8").tobytes()
                parts.extend(masking.mask_windows(
                    windows, masking.rng_for(self._seed, key, dupe), self._vocab_size,
                    self._mask_rate, self._max_predictions, self._special)
                    for dupe in range(self._dupes))
            else:
                parts.append(self._whole_words(windows))
        if not parts:
            return
        columns = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
        mask_ids = columns[features.MASK_IDS][columns[features.MASK_WEIGHTS] > 0]
        ids, counts = np.unique(mask_ids, return_counts=True)
        examples = len(columns[features.TOKEN_IDS])
        yield beam.pvalue.TaggedOutput(self.STATS_TAG, (
            windows_seen, examples, int(counts.sum()), dict(zip(ids.tolist(), counts.tolist()))))
        if examples:
            yield from _to_tf_examples(columns)

    def _packed_ids(self, batch: List[bytes]) -> Iterator[np.ndarray]:
        """Each serialized example's packed ids (decoded in C++, a batch at a time)."""
        records = self._decoder.DecodeBatch(batch)
        index = records.schema.get_field_index(features.PACKED_IDS)
        if index < 0:
            yield from (np.zeros(0, np.int64) for _ in batch)
            return
        column = records.column(index)
        values = column.flatten().to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        offsets = column.offsets.to_numpy()
        for row in range(len(column)):
            yield values[offsets[row]:offsets[row + 1]]

    def _whole_words(self, windows: np.ndarray) -> Dict[str, np.ndarray]:
        """Whole-word masking goes window by window, each with a generator of its own."""
        rows = []
        for index, window in enumerate(windows):
            key = window_key(window, index)
            for dupe in range(self._dupes):
                masked = masking.mask_window(
                    window, masking.rng_for(self._seed, key, dupe), self._vocab_size,
                    self._mask_rate, self._max_predictions, self._special, self._continuation)
                if masked is None:
                    break  # no candidates: no masking of this window ever succeeds
                rows.append(masked)
        if not rows:  # the features' empty [0, ...] arrays
            return masking.mask_windows(windows[:0], np.random.default_rng(0), self._vocab_size,
                                        max_predictions=self._max_predictions)
        return {name: np.stack([row[name] for row in rows]) for name in rows[0]}


class _SumStats(beam.CombineFn):
    """Adds up the batches' statistics: (windows, examples, masked positions, id counts)."""

    def create_accumulator(self):
        return [0, 0, 0, collections.Counter()]

    def add_input(self, accumulator, stats):
        windows, examples, positions, id_counts = stats
        accumulator[0] += windows
        accumulator[1] += examples
        accumulator[2] += positions
        accumulator[3].update(id_counts)
        return accumulator

    def merge_accumulators(self, accumulators):
        total = self.create_accumulator()
        for windows, examples, positions, id_counts in accumulators:
            self.add_input(total, (windows, examples, positions, id_counts))
        return total

    def extract_output(self, accumulator):
        return accumulator


def _finish_stats(split: str, totals) -> Tuple[str, Dict[str, Any]]:
    windows, examples, masked_positions, id_counts = totals
    if id_counts and masked_positions:
        # Most frequent masked id; ties go to the smallest id (deterministic).
        majority_token_id, count = max(id_counts.items(), key=lambda kv: (kv[1], -kv[0]))
        majority_token_id = int(majority_token_id)
        majority_accuracy = float(count) / float(masked_positions)
    else:
        majority_token_id, majority_accuracy = None, 0.0
    return split, {
        "windows": int(windows),
        "examples": int(examples),
        "masked_positions": int(masked_positions),
        "majority_token_id": majority_token_id,
        "majority_accuracy": majority_accuracy,
    }


def _mask_split(pipeline: beam.Pipeline, split: str, input_uri: str, output_uri: str,
                dupes: int, **kwargs) -> beam.PCollection:
    """Masks one split, writes it; returns a PCollection of one ``(split, stats)``."""
    label = f"[{split}]"
    results = (
        pipeline
        | f"ReadExamples{label}" >> beam.io.ReadFromTFRecord(
            os.path.join(input_uri, f"Split-{split}", "*"))
        | f"Batch{label}" >> beam.BatchElements(min_batch_size=1, max_batch_size=64)
        | f"Mask{label}" >> beam.ParDo(_MaskExampleDoFn(dupes=dupes, **kwargs))
        .with_outputs(_MaskExampleDoFn.STATS_TAG, main="masked"))
    _ = (results.masked
         | f"Write{label}" >> beam.io.WriteToTFRecord(
             os.path.join(output_uri, f"Split-{split}", OUTPUT_FILE_PREFIX),
             file_name_suffix=OUTPUT_FILE_SUFFIX,
             compression_type=beam.io.filesystem.CompressionTypes.GZIP))
    return (results[_MaskExampleDoFn.STATS_TAG]
            | f"SumStats{label}" >> beam.CombineGlobally(_SumStats())
            | f"Stats{label}" >> beam.Map(lambda totals: _finish_stats(split, totals)))


def _write_stats(stats: Dict[str, Dict[str, Any]], path: str) -> None:
    io_utils.write_string_file(path, json.dumps(stats, indent=2, sort_keys=True))


class Executor(base_beam_executor.BaseBeamExecutor):
    """Turns packed token windows into BERT-style masked-LM tf.Examples.

    Inputs: ``examples`` (Examples with ``features.PACKED_IDS``), ``vocabulary``
    (WordPieceVocab). Output: ``masked_examples`` (Examples; ``Split-<name>/
    masked-*.tfrecord.gz`` plus ``mlm_stats.json``). Exec properties:
    ``seq_length``, ``mask_rate``, ``max_predictions``, ``dupe_factor``, ``seed``,
    ``whole_word_masking`` (0/1).
    The ``train`` split gets ``dupe_factor`` maskings per window, other splits one.
    """

    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        vocab = artifact_utils.get_single_instance(input_dict[VOCABULARY_KEY])
        output = artifact_utils.get_single_instance(output_dict[MASKED_EXAMPLES_KEY])

        seq_length = int(exec_properties[SEQ_LENGTH_KEY])
        mask_rate = float(exec_properties.get(MASK_RATE_KEY, 0.15))
        max_predictions = int(exec_properties.get(MAX_PREDICTIONS_KEY, 20))
        dupe_factor = int(exec_properties.get(DUPE_FACTOR_KEY, 2))
        seed = int(exec_properties.get(SEED_KEY, 42))
        whole_word = bool(int(exec_properties.get(WHOLE_WORD_KEY) or 0))
        vocab_size, special, continuation = read_vocabulary(vocab.uri)
        splits = artifact_utils.decode_split_names(examples.split_names)
        if not splits:
            raise ValueError(f"Input examples at {examples.uri} have no split_names")
        stats_path = os.path.join(output.uri, STATS_FILE)

        with self._make_beam_pipeline() as pipeline:
            per_split = [
                _mask_split(pipeline, split, examples.uri, output.uri,
                            dupes=dupe_factor if split == TRAIN_SPLIT else 1,
                            seq_length=seq_length, vocab_size=vocab_size, special=special,
                            mask_rate=mask_rate, max_predictions=max_predictions,
                            seed=seed, continuation=continuation if whole_word else None)
                for split in splits
            ]
            _ = (per_split
                 | "FlattenStats" >> beam.Flatten()
                 | "StatsToDict" >> beam.combiners.ToDict()
                 | "WriteStats" >> beam.Map(_write_stats, stats_path))

        output.split_names = artifact_utils.encode_split_names(splits)
        with tf.io.gfile.GFile(stats_path, "r") as f:
            stats = json.load(f)
        for split in splits:
            s = stats[split]
            logging.info(
                "MlmMasker split %s: %d windows -> %d masked examples, %d masked "
                "positions, majority id %s (accuracy %.4f)", split, s["windows"],
                s["examples"], s["masked_positions"], s["majority_token_id"],
                s["majority_accuracy"])
        eval_split = EVAL_SPLIT if EVAL_SPLIT in stats else None
        if eval_split is not None:
            output.set_float_custom_property(
                "majority_accuracy", stats[eval_split]["majority_accuracy"])
            if stats[eval_split]["majority_token_id"] is not None:
                output.set_int_custom_property(
                    "majority_token_id", stats[eval_split]["majority_token_id"])
        for split in splits:
            output.set_int_custom_property(f"{split}_examples", stats[split]["examples"])
