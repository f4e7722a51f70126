"""CausalCheckpointImport: a GPT-2 checkpoint (Importer output) → lmpipe's causal LM Model and
its ByteLevelBPEVocab, with no training.

The Model is what a causal pretraining run's Trainer writes (models/causal_lm/trainer.py): the
generation SavedModel in `Format-Serving/` (models/causal_lm/export.py) and `causal_lm/` (the
keras-hub preset and vocabulary) for more pretraining. The Evaluator scores it as the starting
point of continued pretraining; `lmpipe import` pushes it.
"""

import os
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.types import ByteLevelBPEVocab, GPT2Checkpoint

CHECKPOINT_KEY = "checkpoint"
MODEL_KEY = "model"
VOCABULARY_KEY = "vocabulary"
SEQ_LENGTH_KEY = "seq_length"
MODEL_NAME_KEY = "model_name"
MAX_NEW_TOKENS_KEY = "max_new_tokens"


class CausalExecutor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        from models.tokenizers import bpe
        from models.causal_lm import export as causal_lm_export
        from models.checkpoints import gpt2 as gpt2_checkpoint
        from models.causal_lm.checkpoint import load_causal_lm, save_causal_lm

        source = artifact_utils.get_single_instance(input_dict[CHECKPOINT_KEY])
        model = artifact_utils.get_single_instance(output_dict[MODEL_KEY])
        vocabulary = artifact_utils.get_single_instance(output_dict[VOCABULARY_KEY])
        ckpt = gpt2_checkpoint.inspect_gpt2(source.uri)
        seq_length = int(exec_properties[SEQ_LENGTH_KEY])
        gpt2_checkpoint.check_positions(ckpt, seq_length)
        vocab, merges = gpt2_checkpoint.read_vocabulary(ckpt)
        lm = load_causal_lm(ckpt, dropout=0.0)
        causal_lm_export.export_causal_lm(
            lm, vocab, merges, os.path.join(model.uri, "Format-Serving"), seq_length,
            exec_properties[MODEL_NAME_KEY],
            causal_lm_export.GenerationDefaults(
                max_new_tokens=int(exec_properties[MAX_NEW_TOKENS_KEY])))
        save_causal_lm(lm, vocab, merges, model.uri)
        bpe.write_bpe(vocab, merges, vocabulary.uri)
        vocabulary.set_int_custom_property("vocab_size", len(vocab))
        model.set_string_custom_property("checkpoint_format", ckpt.format)
        model.set_string_custom_property("checkpoint_task", "causal_lm")
        logging.info("CausalCheckpointImport: %s GPT-2 checkpoint %s (%d layers, hidden %d, %d "
                     "positions) → %s", ckpt.format, ckpt.path, ckpt.num_layers, ckpt.hidden_dim,
                     ckpt.positions, model.uri)


class CausalCheckpointImportSpec(ComponentSpec):
    PARAMETERS = {
        SEQ_LENGTH_KEY: ExecutionParameter(type=int),
        MODEL_NAME_KEY: ExecutionParameter(type=str),
        MAX_NEW_TOKENS_KEY: ExecutionParameter(type=int),
    }
    INPUTS = {CHECKPOINT_KEY: ChannelParameter(type=GPT2Checkpoint)}
    OUTPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        VOCABULARY_KEY: ChannelParameter(type=ByteLevelBPEVocab),
    }


class CausalCheckpointImport(base_component.BaseComponent):
    """Example (inside a pipeline definition):

        checkpoint = tfx.dsl.Importer(source_uri="/ckpt/gpt2",
                                      artifact_type=GPT2Checkpoint).with_id("checkpoint")
        imported = CausalCheckpointImport(checkpoint.outputs["result"], seq_length=128,
                                          model_name="clm", max_new_tokens=32)
        # imported.outputs["model"], imported.outputs["vocabulary"]
    """

    SPEC_CLASS = CausalCheckpointImportSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(CausalExecutor)

    def __init__(self, checkpoint: types.BaseChannel, seq_length: int, model_name: str,
                 max_new_tokens: int):
        super().__init__(spec=CausalCheckpointImportSpec(
            checkpoint=checkpoint, seq_length=seq_length, model_name=model_name,
            max_new_tokens=max_new_tokens,
            model=types.Channel(type=standard_artifacts.Model),
            vocabulary=types.Channel(type=ByteLevelBPEVocab)))
