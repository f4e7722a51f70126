"""WordPieceVocabGen executor: counts words with Beam, learns a WordPiece vocabulary.

Counting is distributed (each worker merges its batches' counts, then the workers' tables are
merged); the learner (components/vocab_gen/learner.py) runs on the merged table in one worker.
"""

import collections
import json
import os
from typing import Any, Dict, List

from absl import logging
import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from components import anomalies as anomalies_gate
from components.vocab_gen import learner
from models.core import features
from models.tokenizers.wordpiece import TokenizerSettings

EXAMPLES_KEY = "examples"
ANOMALIES_KEY = "anomalies"
VOCABULARY_KEY = "vocabulary"
VOCAB_SIZE_KEY = "vocab_size"
LOWER_THRESH_KEY = "lower_thresh"
TRAIN_SPLIT = "train"
STATS_FILE = "vocab_stats.json"


def _text_of(serialized: bytes) -> bytes:
    example = tf.train.Example.FromString(serialized)
    values = example.features.feature[features.TEXT].bytes_list.value
    if not values:
        raise ValueError(f"an example has no '{features.TEXT}' bytes feature; the examples "
                         "must come from TextExampleGen")
    return values[0]


class _MergeCounts(beam.CombineFn):
    """Word counts of text batches, merged into one Counter (per worker, then across them).
    `count`: learner.count_words (WordPiece) or learner.count_byte_level_words (BPE)."""

    def __init__(self, count=learner.count_words):
        self._count = count

    def create_accumulator(self):
        return collections.Counter()

    def add_input(self, accumulator, texts: List[bytes]):
        accumulator.update(self._count(texts))
        return accumulator

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        total = next(accumulators)
        for counts in accumulators:
            total.update(counts)
        return total

    def extract_output(self, accumulator):
        return accumulator


def _learn_and_write(counts: collections.Counter, vocab_size: int, lower_thresh: int,
                     output_dir: str) -> None:
    vocab = learner.learn_vocab(counts.items(), vocab_size, lower_thresh, split=TRAIN_SPLIT)
    with fileio.open(os.path.join(output_dir, features.VOCAB_FILE), "w") as f:
        f.write("".join(token + "\n" for token in vocab))
    TokenizerSettings().write(output_dir)  # lmpipe's vocabularies are uncased
    stats = {"words_counted": int(sum(counts.values())), "distinct_words": len(counts),
             "vocab_size": len(vocab), "requested_vocab_size": vocab_size,
             "lower_thresh": lower_thresh}
    with fileio.open(os.path.join(output_dir, STATS_FILE), "w") as f:
        f.write(json.dumps(stats))


def _learn_and_write_bpe(counts: collections.Counter, vocab_size: int, lower_thresh: int,
                         output_dir: str) -> None:
    from models.tokenizers import bpe

    vocab, merges = learner.learn_bpe(counts.items(), vocab_size, lower_thresh, split=TRAIN_SPLIT)
    bpe.write_bpe(vocab, merges, output_dir)
    stats = {"words_counted": int(sum(counts.values())), "distinct_words": len(counts),
             "vocab_size": len(vocab), "requested_vocab_size": vocab_size,
             "lower_thresh": lower_thresh, "merges": len(merges)}
    with fileio.open(os.path.join(output_dir, STATS_FILE), "w") as f:
        f.write(json.dumps(stats))


class Executor(base_beam_executor.BaseBeamExecutor):
    """Learns `vocab.txt` from the `train` split of `examples`."""

    NAME = "WordPieceVocabGen"
    count = staticmethod(learner.count_words)
    learn_and_write = staticmethod(_learn_and_write)
    written = features.VOCAB_FILE

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        # The gate comes first: no work at all on anomalous data.
        for anomalies in input_dict.get(ANOMALIES_KEY) or []:
            anomalies_gate.raise_if_anomalous(anomalies)

        vocab_size = int(exec_properties[VOCAB_SIZE_KEY])
        lower_thresh = int(exec_properties.get(LOWER_THRESH_KEY) or 2)
        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        output = artifact_utils.get_single_instance(output_dict[VOCABULARY_KEY])
        split_dir = os.path.join(examples.uri, "Split-" + TRAIN_SPLIT)
        if not fileio.isdir(split_dir) or not fileio.glob(os.path.join(split_dir, "*")):
            splits = sorted(fileio.listdir(examples.uri)) if fileio.isdir(examples.uri) else []
            raise ValueError(f"examples {examples.uri} have no '{TRAIN_SPLIT}' split files "
                             f"(found {splits}); {self.NAME} learns from the train split")
        fileio.makedirs(output.uri)

        with self._make_beam_pipeline() as p:
            _ = (p
                 | "ReadExamples" >> beam.io.ReadFromTFRecord(
                     os.path.join(split_dir, "*"), coder=beam.coders.BytesCoder())
                 | "Text" >> beam.Map(_text_of)
                 | "Batch" >> beam.BatchElements(min_batch_size=16, max_batch_size=512)
                 # One Counter per worker, merged: a table of distinct words, not an element
                 # per (batch, word) pair.
                 | "CountWords" >> beam.CombineGlobally(_MergeCounts(self.count))
                 | "LearnAndWrite" >> beam.Map(
                     self.learn_and_write, vocab_size=vocab_size, lower_thresh=lower_thresh,
                     output_dir=output.uri))

        with fileio.open(os.path.join(output.uri, STATS_FILE)) as f:
            stats = json.loads(f.read())
        output.set_int_custom_property("vocab_size", stats["vocab_size"])
        logging.info(
            "%s: %d words counted (%d distinct) in split '%s'; vocabulary of %d "
            "tokens (requested %d, lower_thresh %d) written to %s", self.NAME,
            stats["words_counted"], stats["distinct_words"], TRAIN_SPLIT, stats["vocab_size"],
            vocab_size, lower_thresh, os.path.join(output.uri, self.written))


class BPEExecutor(Executor):
    """Learns `vocab.json` + `merges.txt` (byte-level BPE) from the `train` split."""

    NAME = "ByteLevelBPEVocabGen"
    count = staticmethod(learner.count_byte_level_words)
    learn_and_write = staticmethod(_learn_and_write_bpe)
    written = "vocab.json"
