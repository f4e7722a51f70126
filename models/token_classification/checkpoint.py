"""A fine-tuned Hugging Face token classifier (BertForTokenClassification,
DistilBertForTokenClassification) as lmpipe's token classifier, and an imported one written as
lmpipe's model directory."""

import os
from typing import Optional

import numpy as np

from models.checkpoints.checks import TOKEN_CLASSIFICATION, Checkpoint, CheckpointError
from models.checkpoints.huggingface import SafetensorLoader, config_with_defaults, converter, new_backbone
from models.checkpoints.lmpipe import write_classifier_head
from models.core import encoder


def load_token_classifier(ckpt: Checkpoint, dropout: float = 0.1, dtype: Optional[str] = None):
    """A fine-tuned BertForTokenClassification / DistilBertForTokenClassification as the model
    `lmpipe finetune --task token-classification` trains (models/token_classification/model.py:
    build_token_classifier): the encoder's token outputs, dropout, the `classifier` dense
    (transposed from PyTorch's), as transformers' `modeling_bert.py` computes it. Logits
    `[batch, seq, classes]` float32."""
    from models.token_classification.model import build_token_classifier

    if not ckpt.classes or ckpt.task != TOKEN_CLASSIFICATION:
        raise CheckpointError(f"{ckpt.path} is not a fine-tuned token classifier.")
    config = config_with_defaults(ckpt)
    backbone = new_backbone(ckpt, config, dropout, dtype)
    model = build_token_classifier(backbone, len(ckpt.classes), dropout)
    with SafetensorLoader(ckpt.weights_dir) as loader:
        converter(config).convert_weights(backbone, loader, config)
        loader.port_weight(model.output_dense.kernel, "classifier.weight",
                           lambda t, _: np.transpose(t))
        loader.port_weight(model.output_dense.bias, "classifier.bias")
    return model


def save_token_classifier(model, ckpt: Checkpoint, model_dir: str, seq_length: int,
                          model_name: str, stride: Optional[int] = None) -> str:
    """Writes an imported token classifier as lmpipe's model directory: `Format-Serving/`, the
    SavedModel `lmpipe finetune --task token-classification` pushes (entities with character
    offsets from raw text; models/token_classification/export.py), and `encoder/` with
    `classifier_head.npz` (its classes and output dense, kept by fine-tuning from it when the
    data's classes are the same). `stride`: the window overlap, default (seq_length - 2) // 4."""
    from models.token_classification.export import export_token_classifier
    from models.tokenizers.wordpiece import Tokenizer

    saved = encoder.save_encoder(model.backbone, model_dir, list(ckpt.vocab), ckpt.tokenizer)
    write_classifier_head(saved, ckpt.classes, TOKEN_CLASSIFICATION,
                          model.output_dense.get_weights())
    tokenizer = Tokenizer(list(ckpt.vocab), ckpt.tokenizer, where=ckpt.vocab_file)
    export_token_classifier(model, tokenizer, os.path.join(model_dir, encoder.SERVING_DIR),
                            list(ckpt.classes), seq_length,
                            (seq_length - 2) // 4 if stride is None else stride, model_name,
                            encoder.vocab_file(saved))
    return model_dir
