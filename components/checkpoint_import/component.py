"""CheckpointImport: a BERT checkpoint (Importer output) → lmpipe's pretrained Model and its
WordPieceVocab, with no training. A fine-tuned classifier (BertForSequenceClassification)
becomes a classifier Model instead: the SavedModel lmpipe finetune would push, with the
checkpoint's head and classes (models/text_classification/checkpoint.py: save_classifier); a fine-tuned token
classifier (BertForTokenClassification) the entity-serving SavedModel of lmpipe finetune --task
token-classification (save_token_classifier).

The Model is what a pretraining run's Trainer writes (models/masked_lm/checkpoint.py: save_masked_lm): the
fill-mask SavedModel in `Format-Serving/`, served from raw text, and `encoder/` for
fine-tuning or more pretraining. The vocabulary is the checkpoint's, with its tokenizer
settings, for Tokenize and MlmMasker.
"""

import json
import os
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.types import BertCheckpoint, WordPieceVocab

CHECKPOINT_KEY = "checkpoint"
MODEL_KEY = "model"
VOCABULARY_KEY = "vocabulary"
SEQ_LENGTH_KEY = "seq_length"
MAX_PREDICTIONS_KEY = "max_predictions"
TOP_K_KEY = "top_k"
MODEL_NAME_KEY = "model_name"
QA_SETTINGS_KEY = "qa_settings"  # JSON: a question-answering checkpoint's serving settings


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        import tensorflow_text  # noqa: F401  (the tokenizer's ops)

        from models import checkpoints
        from models.masked_lm.checkpoint import load_masked_lm, save_masked_lm
        from models.text_classification.checkpoint import load_text_classifier, save_classifier
        from models.question_answering.checkpoint import load_span_model, save_span_model
        from models.question_answering.settings import QuestionAnsweringSettings
        from models.token_classification.checkpoint import load_token_classifier, save_token_classifier
        from models.tokenizers.wordpiece import copy_vocabulary

        source = artifact_utils.get_single_instance(input_dict[CHECKPOINT_KEY])
        model = artifact_utils.get_single_instance(output_dict[MODEL_KEY])
        vocabulary = artifact_utils.get_single_instance(output_dict[VOCABULARY_KEY])
        ckpt = checkpoints.inspect(source.uri)
        seq_length = int(exec_properties[SEQ_LENGTH_KEY])
        if ckpt.task == checkpoints.QUESTION_ANSWERING:  # a span model: served as one
            # The fine-tuning job's (or lmpipe import's) settings, else defaults that fit.
            settings = json.loads(exec_properties.get(QA_SETTINGS_KEY) or "{}")
            settings = QuestionAnsweringSettings.for_window(
                settings.pop("seq_length", seq_length), **settings)
            save_span_model(load_span_model(ckpt, dropout=0.0), ckpt, model.uri, settings)
            model.set_string_custom_property("checkpoint_task", "question_answering")
            pretrained_head = False
        elif ckpt.task == checkpoints.TOKEN_CLASSIFICATION:  # a tagger: served as one
            tagger = load_token_classifier(ckpt, dropout=0.0)
            save_token_classifier(tagger, ckpt, model.uri, seq_length,
                                  exec_properties[MODEL_NAME_KEY])
            model.set_string_custom_property("checkpoint_task", "token_classification")
            model.set_string_custom_property("classes", ",".join(ckpt.classes))
            pretrained_head = False
        elif ckpt.classes:  # a fine-tuned classifier: served as one, head and all
            classifier = load_text_classifier(ckpt, dropout=0.0)
            save_classifier(classifier, ckpt, model.uri, seq_length,
                            exec_properties[MODEL_NAME_KEY])
            model.set_string_custom_property("checkpoint_task", "text_classification")
            model.set_string_custom_property("classes", ",".join(ckpt.classes))
            pretrained_head = False
        else:
            masked_lm = load_masked_lm(ckpt, dropout=0.0)
            save_masked_lm(masked_lm, ckpt.vocab, ckpt.tokenizer, model.uri, seq_length,
                           int(exec_properties[MAX_PREDICTIONS_KEY]),
                           int(exec_properties[TOP_K_KEY]), exec_properties[MODEL_NAME_KEY],
                           where=ckpt.vocab_file)
            model.set_string_custom_property("checkpoint_task", "masked_lm")
            pretrained_head = masked_lm.pretrained_head
        copy_vocabulary(os.path.join(model.uri, "encoder", "vocab.txt"), vocabulary.uri)
        vocabulary.set_int_custom_property("vocab_size", ckpt.vocab_size)
        model.set_string_custom_property("checkpoint_format", ckpt.format)
        model.set_int_custom_property("pretrained_mlm_head", int(pretrained_head))
        logging.info("CheckpointImport: %s checkpoint %s → %s (%s)", ckpt.format, ckpt.path,
                     model.uri, f"a classifier of {', '.join(ckpt.classes)}" if ckpt.classes else
                     "MLM head " + ("from the checkpoint" if pretrained_head else "new, untrained"))


class CheckpointImportSpec(ComponentSpec):
    PARAMETERS = {
        SEQ_LENGTH_KEY: ExecutionParameter(type=int),
        MAX_PREDICTIONS_KEY: ExecutionParameter(type=int),
        TOP_K_KEY: ExecutionParameter(type=int),
        MODEL_NAME_KEY: ExecutionParameter(type=str),
        QA_SETTINGS_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {CHECKPOINT_KEY: ChannelParameter(type=BertCheckpoint)}
    OUTPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        VOCABULARY_KEY: ChannelParameter(type=WordPieceVocab),
    }


class CheckpointImport(base_component.BaseComponent):
    """Example (inside a pipeline definition):

        checkpoint = tfx.dsl.Importer(source_uri="/ckpt/bert-base-cased",
                                      artifact_type=BertCheckpoint).with_id("checkpoint")
        imported = CheckpointImport(checkpoint.outputs["result"], seq_length=128,
                                    max_predictions=20, top_k=5, model_name="mlm")
        # imported.outputs["model"], imported.outputs["vocabulary"]
    """

    SPEC_CLASS = CheckpointImportSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, checkpoint: types.BaseChannel, seq_length: int, max_predictions: int,
                 top_k: int, model_name: str, qa_settings: str = ""):
        super().__init__(spec=CheckpointImportSpec(
            checkpoint=checkpoint, seq_length=seq_length, max_predictions=max_predictions,
            top_k=top_k, model_name=model_name, qa_settings=qa_settings or None,
            model=types.Channel(type=standard_artifacts.Model),
            vocabulary=types.Channel(type=WordPieceVocab)))
