"""A text classifier on a (pretrained) keras-hub BERT encoder.

Example:

>>> from models.backbone import build_backbone
>>> backbone = build_backbone(vocab_size=100, seq_length=16)
>>> model = build_classifier(backbone, num_classes=2, freeze_embeddings=True, freeze_layers=1)
>>> [layer.trainable for layer in backbone.transformer_layers]
[False, True]
"""

import keras
import keras_hub

from models.backbone import embedding_layers, encoder_inputs, is_distilbert, sequence_output
from models.settings import POOLINGS


def freeze(backbone, embeddings: bool, lowest_layers: int) -> None:
    """Keeps the embeddings and/or the lowest N transformer layers at their pretrained weights
    (a BertBackbone's or a DistilBertBackbone's)."""
    if lowest_layers > len(backbone.transformer_layers):
        raise ValueError(f"freeze_layers={lowest_layers}, but the encoder has only "
                         f"{len(backbone.transformer_layers)} transformer layers")
    if embeddings:
        for layer in embedding_layers(backbone):
            layer.trainable = False
    for layer in backbone.transformer_layers[:lowest_layers]:
        layer.trainable = False


@keras.saving.register_keras_serializable(package="lmpipe")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean of the token outputs over real (non-padding) positions."""

    def call(self, sequence, padding_mask):
        # expand_dims, not [:, :, None]: TFLite has no kernel for a slice that adds an axis.
        weights = keras.ops.expand_dims(keras.ops.cast(padding_mask, sequence.dtype), -1)
        total = keras.ops.sum(sequence * weights, axis=1)
        return total / keras.ops.maximum(keras.ops.sum(weights, axis=1), 1.0)


def build_classifier(backbone, num_classes: int, dropout: float = 0.1,
                     freeze_embeddings: bool = False, freeze_layers: int = 0,
                     pooling: str = "mean") -> keras.Model:
    """Encoder → pooled text vector → dropout → dense logits over classes.

    `pooling="mean"` averages the token outputs, which MLM pretraining trains (lmpipe pretrains
    without next-sentence prediction, so the `[CLS]` output and the pooler get no pretraining
    signal); `pooling="cls"` is keras-hub's BertTextClassifier (pooled `[CLS]`)."""
    if num_classes < 2:
        raise ValueError(f"num_classes={num_classes}: a classifier needs two or more classes")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling={pooling!r}: use one of {', '.join(POOLINGS)}")
    freeze(backbone, freeze_embeddings, freeze_layers)
    if pooling == "cls" and not is_distilbert(backbone):
        model = keras_hub.models.BertTextClassifier(
            backbone=backbone, num_classes=num_classes, preprocessor=None, dropout=dropout)
        model.pooled_dense = None  # its pooler is the encoder's
        return model
    inputs = encoder_inputs()
    sequence = sequence_output(backbone, inputs)
    if pooling == "cls":
        # DistilBertForSequenceClassification's head (transformers' modeling_distilbert.py;
        # keras-hub's DistilBertTextClassifier): [CLS] -> pre_classifier dense, ReLU -> dropout.
        pooled_dense = keras.layers.Dense(backbone.hidden_dim, activation="relu",
                                          name="pooled_dense")
        pooled = pooled_dense(sequence[:, 0])
    else:
        pooled_dense = None
        pooled = MaskedMeanPooling(name="mean_pooling")(sequence, inputs["padding_mask"])
    pooled = keras.layers.Dropout(dropout, name="head_dropout")(pooled)
    output_dense = keras.layers.Dense(num_classes, name="logits", dtype="float32")
    model = keras.Model(inputs, output_dense(pooled),
                        name="distilbert_cls_classifier" if pooled_dense else
                        "bert_mean_pool_classifier")
    model.backbone, model.output_dense, model.pooled_dense = backbone, output_dense, pooled_dense
    return model


def head_layers(model) -> list:
    """The classifier's layers after the encoder that have weights: DistilBERT's `pooled_dense`
    (pre_classifier) when it has one, then `output_dense`. (A BERT's pooler is the encoder's.)"""
    return [layer for layer in (model.pooled_dense, model.output_dense) if layer is not None]


def balanced_class_weights(counts) -> dict:
    """{class id: total / (classes * count)}, as scikit-learn's 'balanced'."""
    total, classes = sum(counts), len(counts)
    return {i: total / (classes * c) if c else 0.0 for i, c in enumerate(counts)}
