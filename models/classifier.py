"""A text classifier on a (pretrained) keras-hub BERT encoder.

Example:

>>> from models import bert
>>> backbone = bert.build_backbone(vocab_size=100, seq_length=16)
>>> model = build_classifier(backbone, num_classes=2, freeze_embeddings=True, freeze_layers=1)
>>> [layer.trainable for layer in backbone.transformer_layers]
[False, True]
"""

import json
import os

import keras_hub


def load_encoder(encoder_dir: str, pretrained: bool = True) -> keras_hub.models.BertBackbone:
    """The BertBackbone saved by pretraining (a local keras-hub preset); with
    `pretrained=False`, the same architecture with fresh random weights."""
    return keras_hub.models.BertBackbone.from_preset(encoder_dir, load_weights=pretrained)


def encoder_vocabulary_size(encoder_dir: str) -> int:
    with open(os.path.join(encoder_dir, "config.json")) as f:
        return json.load(f)["config"]["vocabulary_size"]


def freeze(backbone: keras_hub.models.BertBackbone, embeddings: bool, lowest_layers: int) -> None:
    """Keeps the embeddings and/or the lowest N transformer layers at their pretrained weights."""
    if lowest_layers > len(backbone.transformer_layers):
        raise ValueError(f"freeze_layers={lowest_layers}, but the encoder has only "
                         f"{len(backbone.transformer_layers)} transformer layers")
    if embeddings:
        for layer in (backbone.token_embedding, backbone.position_embedding,
                      backbone.segment_embedding, backbone.embeddings_layer_norm):
            layer.trainable = False
    for layer in backbone.transformer_layers[:lowest_layers]:
        layer.trainable = False


def build_classifier(backbone, num_classes: int, dropout: float = 0.1,
                     freeze_embeddings: bool = False, freeze_layers: int = 0
                     ) -> keras_hub.models.BertTextClassifier:
    """BertTextClassifier: the pooled `[CLS]` output → dropout → dense logits over classes."""
    if num_classes < 2:
        raise ValueError(f"num_classes={num_classes}: a classifier needs two or more classes")
    freeze(backbone, freeze_embeddings, freeze_layers)
    return keras_hub.models.BertTextClassifier(
        backbone=backbone, num_classes=num_classes, preprocessor=None, dropout=dropout)


def balanced_class_weights(counts) -> dict:
    """{class id: total / (classes * count)}, as scikit-learn's 'balanced'."""
    total, classes = sum(counts), len(counts)
    return {i: total / (classes * c) if c else 0.0 for i, c in enumerate(counts)}
