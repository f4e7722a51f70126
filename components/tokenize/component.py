"""Tokenize: TFX Transform with a vocabulary (WordPiece, or byte-level BPE for the causal LM)
and optionally anomalies as inputs.

Transform takes no artifact besides examples and schema, but our `preprocessing_fn` needs the
vocabulary that WordPieceVocabGen learned in this same run. This component is Transform with
one more input channel; its executor (executor.py) passes the vocabulary file to the
`preprocessing_fn` through `custom_config["vocab_file"]`.
"""

from typing import Any, Dict, Optional

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils

from components.tokenize.executor import (ANOMALIES_KEY, BPE_VOCABULARY_KEY, VOCABULARY_KEY,
                                          TokenizeExecutor)
from components.types import ByteLevelBPEVocab, WordPieceVocab


class TokenizeSpec(standard_component_specs.TransformSpec):
    INPUTS = {
        **standard_component_specs.TransformSpec.INPUTS,
        # One of the two.
        VOCABULARY_KEY: ChannelParameter(type=WordPieceVocab, optional=True),
        BPE_VOCABULARY_KEY: ChannelParameter(type=ByteLevelBPEVocab, optional=True),
        ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies, optional=True),
    }


class Tokenize(base_beam_component.BaseBeamComponent):
    """Transform (analyze train, transform train and eval) with a vocabulary input: a
    WordPieceVocab, or a ByteLevelBPEVocab given as `bpe_vocabulary`.

    Example (inside a pipeline definition):

        tokenize = Tokenize(examples=example_gen.outputs["examples"],
                            schema=schema_importer.outputs["result"],
                            vocabulary=vocab_gen.outputs["vocabulary"],
                            preprocessing_fn="models.masked_lm.preprocessing.preprocessing_fn",
                            custom_config={"seq_length": 128})
    """

    SPEC_CLASS = TokenizeSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(TokenizeExecutor)

    def __init__(self, examples: types.BaseChannel, schema: types.BaseChannel,
                 vocabulary: Optional[types.BaseChannel], preprocessing_fn: str,
                 custom_config: Optional[Dict[str, Any]] = None,
                 anomalies: Optional[types.BaseChannel] = None,
                 bpe_vocabulary: Optional[types.BaseChannel] = None):
        if (vocabulary is None) == (bpe_vocabulary is None):
            raise ValueError("Tokenize takes one vocabulary: `vocabulary` (WordPiece) or "
                             "`bpe_vocabulary` (byte-level BPE)")
        transformed_examples = types.Channel(type=standard_artifacts.Examples)
        transformed_examples.matching_channel_name = "examples"
        spec = TokenizeSpec(
            examples=examples,
            schema=schema,
            vocabulary=vocabulary,
            bpe_vocabulary=bpe_vocabulary,
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
