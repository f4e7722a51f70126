"""A fine-tuned Hugging Face text classifier (BertForSequenceClassification,
DistilBertForSequenceClassification) as lmpipe's classifier, and an imported classifier written
as lmpipe's model directory."""

import os
from typing import Optional

import numpy as np

from models.checkpoints.checks import TEXT_CLASSIFICATION, Checkpoint, CheckpointError
from models.checkpoints.huggingface import SafetensorLoader, config_with_defaults, converter, new_backbone
from models.checkpoints.lmpipe import write_classifier_head
from models.core import encoder


def load_text_classifier(ckpt: Checkpoint, dropout: float = 0.1, dtype: Optional[str] = None):
    """A fine-tuned classifier (`ckpt.classes`) as the model `lmpipe finetune --pooling cls`
    trains (models/text_classification/model.py: build_classifier), as transformers computes it
    (`modeling_bert.py`, `modeling_distilbert.py`): BertForSequenceClassification is keras-hub's
    BertTextClassifier (the encoder's pooler, a tanh dense on [CLS], then the `classifier`
    dense); DistilBertForSequenceClassification is [CLS] -> `pre_classifier` dense, ReLU ->
    `classifier` dense. Dense weights are transposed from PyTorch's. Logits `[batch, classes]`
    float32."""
    from models.text_classification.model import build_classifier

    if not ckpt.classes or ckpt.task != TEXT_CLASSIFICATION:
        raise CheckpointError(f"{ckpt.path} is not a fine-tuned text classifier.")
    config = config_with_defaults(ckpt)
    backbone = new_backbone(ckpt, config, dropout, dtype)
    model = build_classifier(backbone, len(ckpt.classes), dropout, pooling="cls")
    transpose = lambda t, _: np.transpose(t)  # noqa: E731
    with SafetensorLoader(ckpt.weights_dir) as loader:
        converter(config).convert_weights(backbone, loader, config)
        if model.pooled_dense is not None:
            loader.port_weight(model.pooled_dense.kernel, "pre_classifier.weight", transpose)
            loader.port_weight(model.pooled_dense.bias, "pre_classifier.bias")
        loader.port_weight(model.output_dense.kernel, "classifier.weight", transpose)
        loader.port_weight(model.output_dense.bias, "classifier.bias")
    return model


def save_classifier(model, ckpt: Checkpoint, model_dir: str, seq_length: int,
                    model_name: str) -> str:
    """Writes an imported classifier as lmpipe's model directory: `Format-Serving/`, the
    classifier SavedModel with the signatures, warmup requests and `assets.extra/lmpipe/` of a
    classifier lmpipe fine-tuned (models/core/export.py), and `encoder/` (the encoder with its
    pooler, vocabulary, tokenizer settings, and `classifier_head.npz`: the class names and the
    head's weights after the encoder, which `lmpipe finetune --pretrained` keeps when the
    data's classes are the same)."""
    from models.text_classification.export import export_classifier
    from models.text_classification.preprocessing import ClassifierPreprocessing
    from models.text_classification.model import head_layers
    from models.tokenizers.wordpiece import Tokenizer

    saved = encoder.save_encoder(model.backbone, model_dir, list(ckpt.vocab), ckpt.tokenizer)
    weights = [w for layer in head_layers(model) for w in layer.get_weights()]
    write_classifier_head(saved, ckpt.classes, TEXT_CLASSIFICATION, weights)
    preprocessing = ClassifierPreprocessing(
        Tokenizer(list(ckpt.vocab), ckpt.tokenizer, where=ckpt.vocab_file), seq_length)
    export_classifier(model, preprocessing, os.path.join(model_dir, encoder.SERVING_DIR),
                      list(ckpt.classes), seq_length, model_name,
                      encoder.vocab_file(saved))
    return model_dir
