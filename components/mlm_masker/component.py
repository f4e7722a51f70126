"""The MlmMasker TFX component: packed token windows -> masked-LM tf.Examples."""

from __future__ import annotations

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.mlm_masker import executor
from components.types import WordPieceVocab
from models.core.settings import ConfigError


def check_masking(mask_rate: float, dupe_factor: int) -> None:
    if not 0.0 < mask_rate < 1.0:
        raise ConfigError(f"mask_rate={mask_rate} must be between 0 and 1 (0.15 is BERT's).")
    if dupe_factor < 1:
        raise ConfigError(f"dupe_factor={dupe_factor} must be a positive integer.")


class MlmMaskerSpec(types.ComponentSpec):
    """Spec of MlmMasker.

    The output key is ``masked_examples``: TFX requires argument names to be unique
    across PARAMETERS, INPUTS and OUTPUTS, so it cannot also be ``examples``.
    """

    PARAMETERS = {
        executor.SEQ_LENGTH_KEY: ExecutionParameter(type=int),
        executor.MASK_RATE_KEY: ExecutionParameter(type=float),
        executor.MAX_PREDICTIONS_KEY: ExecutionParameter(type=int),
        executor.DUPE_FACTOR_KEY: ExecutionParameter(type=int),
        executor.SEED_KEY: ExecutionParameter(type=int),
        executor.WHOLE_WORD_KEY: ExecutionParameter(type=int),
    }
    INPUTS = {
        executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        executor.VOCABULARY_KEY: ChannelParameter(type=WordPieceVocab),
    }
    OUTPUTS = {
        executor.MASKED_EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }


class MlmMasker(base_beam_component.BaseBeamComponent):
    """Turns Transform's packed token windows into BERT-style masked-LM examples.

    ``train`` gets ``dupe_factor`` differently-masked copies of every window; other
    splits one; ``whole_word_masking`` masks all pieces of a word together. Output
    ``outputs['masked_examples']`` (Examples) also holds
    ``mlm_stats.json`` and the ``majority_accuracy`` custom property (eval split).
    """

    SPEC_CLASS = MlmMaskerSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self,
                 examples: types.BaseChannel,
                 vocabulary: types.BaseChannel,
                 seq_length: int,
                 mask_rate: float = 0.15,
                 max_predictions: int = 20,
                 dupe_factor: int = 2,
                 seed: int = 42,
                 whole_word_masking: bool = False,
                 masked_examples: Optional[types.BaseChannel] = None):
        check_masking(mask_rate, dupe_factor)
        masked_examples = masked_examples or types.Channel(
            type=standard_artifacts.Examples)
        spec = MlmMaskerSpec(
            examples=examples,
            vocabulary=vocabulary,
            seq_length=seq_length,
            mask_rate=mask_rate,
            max_predictions=max_predictions,
            dupe_factor=dupe_factor,
            seed=seed,
            whole_word_masking=int(whole_word_masking),
            masked_examples=masked_examples)
        super().__init__(spec=spec)
