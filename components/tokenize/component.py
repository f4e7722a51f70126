"""Tokenize: TFX Transform with a WordPiece vocabulary (and optionally anomalies) as inputs.

Transform takes no artifact besides examples and schema, but our `preprocessing_fn` needs the
vocabulary that WordPieceVocabGen learned in this same run. This component is Transform with
one more input channel; its executor passes the vocabulary file to the `preprocessing_fn`
through `custom_config["vocab_file"]` and then runs the stock Transform executor.
"""

import json
from typing import Any, Dict, Optional

import tensorflow as tf
from tfx import types
from tfx.components.transform import executor as transform_executor
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils

from components.types import WordPieceVocab
from components.anomalies import raise_if_anomalous
from models import features
from models.tokenization import copy_vocabulary

VOCABULARY_KEY = "vocabulary"
ANOMALIES_KEY = "anomalies"
REQUIRED_SPLITS = ("train", "eval")


class TokenizeSpec(standard_component_specs.TransformSpec):
    INPUTS = {
        **standard_component_specs.TransformSpec.INPUTS,
        VOCABULARY_KEY: ChannelParameter(type=WordPieceVocab),
        ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies, optional=True),
    }


def _check_splits_not_empty(examples) -> None:
    for split in REQUIRED_SPLITS:
        pattern = f"{examples.uri}/Split-{split}/*"
        files = tf.io.gfile.glob(pattern)
        if not files or not any(True for _ in tf.data.TFRecordDataset(files, "GZIP").take(1)):
            raise ValueError(
                f"the '{split}' split has no examples ({pattern}). The hash split puts about one "
                f"example in ten there: give more data, or give the splits yourself.")


class TokenizeExecutor(transform_executor.Executor):
    """Refuses anomalous or empty data, adds `vocab_file` to `custom_config`, then runs TFX's
    Transform executor."""

    def Do(self, input_dict, output_dict, exec_properties):
        for anomalies in input_dict.pop(ANOMALIES_KEY, None) or []:
            raise_if_anomalous(anomalies)
        _check_splits_not_empty(input_dict[standard_component_specs.EXAMPLES_KEY][0])
        vocabulary = input_dict.pop(VOCABULARY_KEY)[0]
        custom_config = json.loads(exec_properties.get("custom_config") or "null") or {}
        custom_config["vocab_file"] = f"{vocabulary.uri}/{features.VOCAB_FILE}"
        exec_properties = dict(exec_properties, custom_config=json_utils.dumps(custom_config))
        super().Do(input_dict, output_dict, exec_properties)
        # The trainer and exporter find the vocabulary (and its tokenizer settings) beside the
        # graph that embeds it.
        transform_graph = output_dict[standard_component_specs.TRANSFORM_GRAPH_KEY][0]
        copy_vocabulary(custom_config["vocab_file"], transform_graph.uri)


class Tokenize(base_beam_component.BaseBeamComponent):
    """Transform (analyze train, transform train and eval) with a vocabulary input.

    Example (inside a pipeline definition):

        tokenize = Tokenize(examples=example_gen.outputs["examples"],
                            schema=schema_importer.outputs["result"],
                            vocabulary=vocab_gen.outputs["vocabulary"],
                            preprocessing_fn="models.preprocessing.preprocessing_fn",
                            custom_config={"seq_length": 128})
    """

    SPEC_CLASS = TokenizeSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(TokenizeExecutor)

    def __init__(self, examples: types.BaseChannel, schema: types.BaseChannel,
                 vocabulary: types.BaseChannel, preprocessing_fn: str,
                 custom_config: Optional[Dict[str, Any]] = None,
                 anomalies: Optional[types.BaseChannel] = None):
        transformed_examples = types.Channel(type=standard_artifacts.Examples)
        transformed_examples.matching_channel_name = "examples"
        spec = TokenizeSpec(
            examples=examples,
            schema=schema,
            vocabulary=vocabulary,
            anomalies=anomalies,
            preprocessing_fn=preprocessing_fn,
            force_tf_compat_v1=0,
            custom_config=json_utils.dumps(custom_config or {}),
            # Statistics of packed ids would only cost time; the raw text is validated upstream.
            disable_statistics=1,
            transform_graph=types.Channel(type=standard_artifacts.TransformGraph),
            transformed_examples=transformed_examples,
            updated_analyzer_cache=types.Channel(type=standard_artifacts.TransformCache))
        super().__init__(spec=spec)
