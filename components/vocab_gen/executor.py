"""WordPieceVocabGen executor: counts words with Beam, learns a WordPiece vocabulary.

Counting is distributed (per-batch counts, then CombinePerKey(sum)); only the (word, count)
table is gathered into one worker, where tensorflow-text's learner runs.
"""

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
from models import features
from models.tokenization import TokenizerSettings

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


class _CountWords(beam.DoFn):
    """A batch of texts to its (word, count) pairs (pretokenized with TensorFlow)."""

    def process(self, texts: List[bytes]):
        yield from learner.count_words(texts).items()


def _learn_and_write(table, total_words: int, vocab_size: int, lower_thresh: int,
                     output_dir: str) -> None:
    vocab = learner.learn_vocab(table, vocab_size, lower_thresh, split=TRAIN_SPLIT)
    with fileio.open(os.path.join(output_dir, features.VOCAB_FILE), "w") as f:
        f.write("".join(token + "\n" for token in vocab))
    TokenizerSettings().write(output_dir)  # lmpipe's vocabularies are uncased
    stats = {"words_counted": int(total_words), "distinct_words": len(table),
             "vocab_size": len(vocab), "requested_vocab_size": vocab_size,
             "lower_thresh": lower_thresh}
    with fileio.open(os.path.join(output_dir, STATS_FILE), "w") as f:
        f.write(json.dumps(stats))


class Executor(base_beam_executor.BaseBeamExecutor):
    """Learns `vocab.txt` from the `train` split of `examples`."""

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
                             f"(found {splits}); WordPieceVocabGen learns from the train split")
        fileio.makedirs(output.uri)

        with self._make_beam_pipeline() as p:
            counts = (p
                      | "ReadExamples" >> beam.io.ReadFromTFRecord(
                          os.path.join(split_dir, "*"), coder=beam.coders.BytesCoder())
                      | "Text" >> beam.Map(_text_of)
                      | "Batch" >> beam.BatchElements(min_batch_size=16, max_batch_size=512)
                      | "CountBatch" >> beam.ParDo(_CountWords())
                      | "SumCounts" >> beam.CombinePerKey(sum))
            total = (counts
                     | "Counts" >> beam.Values()
                     | "TotalWords" >> beam.CombineGlobally(sum))
            _ = (counts
                 | "GatherTable" >> beam.combiners.ToList()
                 | "LearnAndWrite" >> beam.Map(
                     _learn_and_write, total_words=beam.pvalue.AsSingleton(total),
                     vocab_size=vocab_size, lower_thresh=lower_thresh, output_dir=output.uri))

        with fileio.open(os.path.join(output.uri, STATS_FILE)) as f:
            stats = json.loads(f.read())
        output.set_int_custom_property("vocab_size", stats["vocab_size"])
        logging.info(
            "WordPieceVocabGen: %d words counted (%d distinct) in split '%s'; vocabulary of %d "
            "tokens (requested %d, lower_thresh %d) written to %s",
            stats["words_counted"], stats["distinct_words"], TRAIN_SPLIT, stats["vocab_size"],
            vocab_size, lower_thresh, os.path.join(output.uri, features.VOCAB_FILE))
