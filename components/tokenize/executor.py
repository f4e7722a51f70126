"""Tokenize's executor: TFX's Transform executor for the graph, then one Beam pass that applies
it to every split.

Our `preprocessing_fn`s analyse nothing (the vocabulary comes in as an artifact), so Transform
needs no data to build its graph: without materialisation it traces and saves the graph in this
process (TFX's "in-place" Transform, three traces of the `preprocessing_fn`), where its Beam
path traced it nine times (1-2 s each on 2 CPUs) before reading a record. The transformed
examples are then written by a plain Beam pass over each split (read, batch, run the saved
graph, encode with the transformed schema, write), which is what `tft_beam.TransformDataset`
does, without its per-run tracing.
Were a `preprocessing_fn` to use an analyser, Transform's own Beam analysis still runs first.
"""

import contextlib
import json
import logging
import os
from typing import Iterator, List

import apache_beam as beam
import tensorflow as tf
from tfx.components.transform import executor as transform_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import json_utils

from components.anomalies import raise_if_anomalous
from models.tokenizers import bpe
from models.core import features
from models.tokenizers.wordpiece import copy_vocabulary

VOCABULARY_KEY = "vocabulary"
BPE_VOCABULARY_KEY = "bpe_vocabulary"
ANOMALIES_KEY = "anomalies"
REQUIRED_SPLITS = ("train", "eval")
OUTPUT_PREFIX = "transformed_examples"  # as TFX's Transform names its files
BATCH = 64  # documents per call of the graph (custom_config `documents_per_batch` overrides)


def _check_splits_not_empty(examples) -> None:
    for split in REQUIRED_SPLITS:
        pattern = f"{examples.uri}/Split-{split}/*"
        files = tf.io.gfile.glob(pattern)
        if not files or not any(True for _ in tf.data.TFRecordDataset(files, "GZIP").take(1)):
            raise ValueError(
                f"the '{split}' split has no examples ({pattern}). The hash split puts about one "
                f"example in ten there: give more data, or give the splits yourself.")


_GRAPHS = {}  # transform graph uri -> (transform, to_arrow, encoder), one load per process


def _load_transform(uri: str):
    """The saved graph as a function of serialized raw tf.Examples, and the transformed
    schema's Arrow converter and tf.Example encoder (what TFX's Transform encodes with)."""
    if uri not in _GRAPHS:
        import tensorflow_text  # noqa: F401  (registers the tokenizer's ops before loading)
        import tensorflow_transform as tft
        from tensorflow_transform import impl_helper
        from tfx_bsl.coders import example_coder

        output = tft.TFTransformOutput(uri)
        layer = output.transform_features_layer()
        raw_spec = output.raw_feature_spec()
        schema = output.transformed_metadata.schema

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
        def transform(serialized):
            return layer(tf.io.parse_example(serialized, raw_spec))

        _GRAPHS[uri] = (transform, impl_helper.make_tensor_to_arrow_converter(schema),
                        example_coder.RecordBatchToExamplesEncoder(schema))
    return _GRAPHS[uri]


class _ApplyTransformGraph(beam.DoFn):
    """A batch of serialized raw tf.Examples -> serialized transformed tf.Examples."""

    def __init__(self, transform_graph_uri: str):
        self._uri = transform_graph_uri

    def setup(self):
        self._transform, self._to_arrow, self._encoder = _load_transform(self._uri)

    def process(self, batch: List[bytes]) -> Iterator[bytes]:
        outputs = self._transform(tf.constant(batch))
        yield from self._encoder.encode(self._to_arrow.convert(outputs))


def _analyzer_input_columns(preprocessing_fn, specs, force_tf_compat_v1=False) -> List[str]:
    """The inputs that `preprocessing_fn`'s analysers read, found in a TF1 graph trace.

    A TF2 trace makes every stateful op (a vocabulary table's lookup, a ragged tensor's checks)
    a control dependency of the outputs, and tft then counts the inputs of those as analysis
    inputs, so any tokenizer made TFX take the full Beam analysis for a graph that analyses
    nothing. A TF1 graph has no such dependencies (and traces faster); a `preprocessing_fn`
    that only traces in TF2 gets tft's own answer."""
    # tft's own function, not the name `_in_place_unless_analysing` points at this one.
    from tensorflow_transform.inspect_preprocessing_fn import get_analyze_input_columns

    try:
        return get_analyze_input_columns(preprocessing_fn, specs, force_tf_compat_v1=True)
    except Exception as error:  # noqa: BLE001 (whatever a TF1 trace raises; TF2's answer is safe)
        logging.warning("preprocessing_fn does not trace as a TF1 graph (%s): Transform "
                        "analyses the data with Beam", error)
        return get_analyze_input_columns(preprocessing_fn, specs, force_tf_compat_v1)


@contextlib.contextmanager
def _in_place_unless_analysing():
    """TFX's Transform builds the graph in place (no Beam, no data) when nothing is analysed,
    statistics are off and nothing is materialised; this has it judge "nothing is analysed" by
    the analysers alone. (`tft.impl_helper.analyze_in_place` refuses a graph with analysers.)"""
    tft = transform_executor.tft
    original = tft.get_analyze_input_columns
    tft.get_analyze_input_columns = _analyzer_input_columns
    try:
        yield
    finally:
        tft.get_analyze_input_columns = original


class TokenizeExecutor(transform_executor.Executor):
    """Refuses anomalous or empty data, adds `vocab_file` to `custom_config`, has TFX's
    Transform executor build the graph, then applies it to every split with Beam."""

    def Do(self, input_dict, output_dict, exec_properties):
        for anomalies in input_dict.pop(ANOMALIES_KEY, None) or []:
            raise_if_anomalous(anomalies)
        examples = input_dict[standard_component_specs.EXAMPLES_KEY][0]
        _check_splits_not_empty(examples)
        wordpiece = input_dict.pop(VOCABULARY_KEY, None)
        byte_level = input_dict.pop(BPE_VOCABULARY_KEY, None)
        custom_config = json.loads(exec_properties.get("custom_config") or "null") or {}
        if byte_level:  # vocab.json + merges.txt, or a checkpoint's tokenizer.json: the
            # preprocessing_fn reads the directory (models/tokenizers/bpe.py read_bpe)
            bpe.read_bpe(byte_level[0].uri)  # a bad vocabulary stops here, named
            custom_config["vocab_file"] = f"{byte_level[0].uri}/{bpe.VOCAB_JSON}"
        else:
            custom_config["vocab_file"] = f"{wordpiece[0].uri}/{features.VOCAB_FILE}"
        exec_properties = dict(exec_properties, custom_config=json_utils.dumps(custom_config))
        graph_only = {key: value for key, value in output_dict.items()
                      if key != standard_component_specs.TRANSFORMED_EXAMPLES_KEY}
        with _in_place_unless_analysing():
            super().Do(input_dict, graph_only, exec_properties)
        # The trainer and exporter find the vocabulary (and its tokenizer settings) beside the
        # graph that embeds it.
        transform_graph = output_dict[standard_component_specs.TRANSFORM_GRAPH_KEY][0]
        if byte_level:
            bpe.copy_bpe(os.path.dirname(custom_config["vocab_file"]), transform_graph.uri)
        else:
            copy_vocabulary(custom_config["vocab_file"], transform_graph.uri)
        batch = int(custom_config.get("documents_per_batch", BATCH))
        for transformed in output_dict.get(standard_component_specs.TRANSFORMED_EXAMPLES_KEY, []):
            self._transform_splits(examples, transform_graph.uri, transformed, batch)

    def _transform_splits(self, examples, transform_graph_uri: str, transformed,
                          batch: int = BATCH) -> None:
        splits = artifact_utils.decode_split_names(examples.split_names)
        with self._make_beam_pipeline() as pipeline:
            for split in splits:
                _ = (pipeline
                     | f"Read[{split}]" >> beam.io.ReadFromTFRecord(
                         os.path.join(examples.uri, f"Split-{split}", "*"),
                         coder=beam.coders.BytesCoder())
                     | f"Batch[{split}]" >> beam.BatchElements(min_batch_size=batch,
                                                              max_batch_size=batch)
                     | f"Transform[{split}]" >> beam.ParDo(
                         _ApplyTransformGraph(transform_graph_uri))
                     | f"Write[{split}]" >> beam.io.WriteToTFRecord(
                         os.path.join(transformed.uri, f"Split-{split}", OUTPUT_PREFIX),
                         file_name_suffix=".gz"))
        transformed.split_names = artifact_utils.encode_split_names(splits)
