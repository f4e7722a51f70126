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

from models.settings import POOLINGS


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
    if pooling == "cls":
        return keras_hub.models.BertTextClassifier(
            backbone=backbone, num_classes=num_classes, preprocessor=None, dropout=dropout)
    inputs = dict(backbone.input)
    sequence = backbone(inputs)["sequence_output"]
    pooled = MaskedMeanPooling(name="mean_pooling")(sequence, inputs["padding_mask"])
    pooled = keras.layers.Dropout(dropout, name="head_dropout")(pooled)
    logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(pooled)
    return keras.Model(inputs, logits, name="bert_mean_pool_classifier")


def balanced_class_weights(counts) -> dict:
    """{class id: total / (classes * count)}, as scikit-learn's 'balanced'."""
    total, classes = sum(counts), len(counts)
    return {i: total / (classes * c) if c else 0.0 for i, c in enumerate(counts)}
