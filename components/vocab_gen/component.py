"""WordPieceVocabGen and ByteLevelBPEVocabGen: learn a WordPiece (BERT) or byte-level BPE
(GPT-2) vocabulary from ExampleGen's train split."""

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.types import ByteLevelBPEVocab, WordPieceVocab
from components.vocab_gen import executor
from models.core.settings import check_vocab_size


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
    """Counts words (models.tokenizers.wordpiece.pretokenize) of `examples`' train split with Beam and
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


class ByteLevelBPEVocabGenSpec(ComponentSpec):
    PARAMETERS = WordPieceVocabGenSpec.PARAMETERS
    INPUTS = WordPieceVocabGenSpec.INPUTS
    OUTPUTS = {executor.VOCABULARY_KEY: ChannelParameter(type=ByteLevelBPEVocab)}


class ByteLevelBPEVocabGen(base_beam_component.BaseBeamComponent):
    """Counts GPT-2's pre-tokenized words of `examples`' train split with Beam and learns a
    byte-level BPE of at most `vocab_size` tokens with Hugging Face `tokenizers`' BpeTrainer
    (components/vocab_gen/learner.py learn_bpe): `vocab.json` + `merges.txt`, the same files
    the trainer gives on the raw text (tests/components/test_vocab_gen.py).

    If `anomalies` is given and lists any anomaly, the component fails before any work."""

    SPEC_CLASS = ByteLevelBPEVocabGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.BPEExecutor)

    def __init__(self, examples: types.BaseChannel, vocab_size: int, lower_thresh: int = 2,
                 anomalies: Optional[types.BaseChannel] = None):
        check_vocab_size(vocab_size)
        spec = ByteLevelBPEVocabGenSpec(
            examples=examples, anomalies=anomalies, vocab_size=vocab_size,
            lower_thresh=lower_thresh, vocabulary=types.Channel(type=ByteLevelBPEVocab))
        super().__init__(spec=spec)
