"""WordPieceVocabGen: learns a WordPiece vocabulary from ExampleGen's train split."""

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.types import WordPieceVocab
from components.vocab_gen import executor
from models.settings import check_vocab_size


class WordPieceVocabGenSpec(ComponentSpec):
    PARAMETERS = {
        executor.VOCAB_SIZE_KEY: ExecutionParameter(type=int),
        executor.LOWER_THRESH_KEY: ExecutionParameter(type=int),
    }
    INPUTS = {
        executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        executor.ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies,
                                                 optional=True),
    }
    OUTPUTS = {
        executor.VOCABULARY_KEY: ChannelParameter(type=WordPieceVocab),
    }


class WordPieceVocabGen(base_beam_component.BaseBeamComponent):
    """Counts words (models.tokenization.pretokenize) of `examples`' train split with Beam and
    learns a WordPiece vocabulary of at most `vocab_size` tokens (reserved tokens first).

    If `anomalies` (ExampleValidator output) is given and lists any anomaly, the component
    fails before doing any work.
    """

    SPEC_CLASS = WordPieceVocabGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, examples: types.BaseChannel, vocab_size: int, lower_thresh: int = 2,
                 anomalies: Optional[types.BaseChannel] = None):
        check_vocab_size(vocab_size)
        spec = WordPieceVocabGenSpec(
            examples=examples, anomalies=anomalies, vocab_size=vocab_size,
            lower_thresh=lower_thresh, vocabulary=types.Channel(type=WordPieceVocab))
        super().__init__(spec=spec)
