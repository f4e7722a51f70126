"""A fine-tuned Hugging Face question-answering model (BertForQuestionAnswering,
DistilBertForQuestionAnswering) as lmpipe's span model, and an imported one written as lmpipe's
model directory."""

import os
from typing import Optional

import numpy as np

from models.checkpoints.checks import QUESTION_ANSWERING, Checkpoint, CheckpointError
from models.checkpoints.huggingface import SafetensorLoader, config_with_defaults, converter, new_backbone
from models.checkpoints.lmpipe import write_classifier_head
from models.core import encoder
from models.question_answering.settings import QuestionAnsweringSettings


def load_span_model(ckpt: Checkpoint, dropout: float = 0.1, dtype: Optional[str] = None):
    """A fine-tuned BertForQuestionAnswering / DistilBertForQuestionAnswering as the model
    `lmpipe finetune --task question-answering` trains (models/question_answering/model.py:
    build_span_model): the encoder's token outputs and the `qa_outputs` dense (transposed
    from PyTorch's), as transformers' `modeling_bert.py` computes them. Logits
    `[batch, seq, 2]` float32 (start, end)."""
    from models.question_answering.model import build_span_model

    if ckpt.task != QUESTION_ANSWERING:
        raise CheckpointError(f"{ckpt.path} is not a fine-tuned question-answering model.")
    config = config_with_defaults(ckpt)
    backbone = new_backbone(ckpt, config, dropout, dtype)
    model = build_span_model(backbone, dropout)
    with SafetensorLoader(ckpt.weights_dir) as loader:
        converter(config).convert_weights(backbone, loader, config)
        loader.port_weight(model.output_dense.kernel, "qa_outputs.weight",
                           lambda t, _: np.transpose(t))
        loader.port_weight(model.output_dense.bias, "qa_outputs.bias")
    return model


def save_span_model(model, ckpt: Checkpoint, model_dir: str,
                    settings: QuestionAnsweringSettings) -> str:
    """Writes an imported question-answering model as lmpipe's model directory:
    `Format-Serving/`, the SavedModel `lmpipe finetune --task question-answering` pushes
    (answers with character offsets from raw questions and contexts;
    models/question_answering/export.py), and `encoder/` with `classifier_head.npz` (the span
    head, kept by fine-tuning from it)."""
    from models.question_answering.export import export_question_answering
    from models.tokenizers.wordpiece import Tokenizer

    saved = encoder.save_encoder(model.backbone, model_dir, list(ckpt.vocab), ckpt.tokenizer)
    write_classifier_head(saved, ("start", "end"), QUESTION_ANSWERING,
                          model.output_dense.get_weights())
    tokenizer = Tokenizer(list(ckpt.vocab), ckpt.tokenizer, where=ckpt.vocab_file)
    export_question_answering(model, tokenizer, os.path.join(model_dir, encoder.SERVING_DIR),
                              settings, encoder.vocab_file(saved))
    return model_dir
