"""A text classifier on a (pretrained) keras-hub BERT encoder.

Example:

>>> from models.core.backbone import build_backbone
>>> backbone = build_backbone(vocab_size=100, seq_length=16)
>>> model = build_classifier(backbone, num_classes=2, freeze_embeddings=True, freeze_layers=1)
>>> [layer.trainable for layer in backbone.transformer_layers]
[False, True]
"""

import keras
import keras_hub
import tensorflow as tf

from models.core.backbone import embedding_layers, encoder_inputs, is_distilbert, sequence_output
from models.text_classification.settings import POOLINGS


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


@keras.saving.register_keras_serializable(package="lmpipe")
class WindowedClassifier(keras.Model):
    """A text read as windows: `[batch, windows, seq_length]` BERT inputs → the window
    classifier on each real window (one with any non-padding position; all-`[PAD]` windows
    pad a batch to its most windows and are not computed) → the text's logits, the mean (or,
    with `pooling="max"`, the maximum) of its windows' logits: `[batch, classes]` float32.

    The windows' logits are pooled, as in Pappagari et al. 2019 ("Hierarchical Transformers
    for Long Document Classification", their mean/max baselines), so the one model trains,
    is evaluated and is served on whole texts. `window_classifier` (build_classifier's) takes
    `[n, seq_length]` inputs; its `backbone`, `output_dense` and `pooled_dense` are this
    model's too.

    >>> from models.core.backbone import build_backbone
    >>> from models.core.inputs import bert_inputs
    >>> window = build_classifier(build_backbone(vocab_size=100, seq_length=8), num_classes=3)
    >>> model = WindowedClassifier(window, pooling="mean")
    >>> ids = tf.constant([[[2, 7, 3, 0], [0, 0, 0, 0]], [[2, 8, 9, 3], [2, 5, 3, 0]]])
    >>> model(bert_inputs(ids)).shape
    TensorShape([2, 3])
    """

    def __init__(self, window_classifier: keras.Model, pooling: str = "mean", **kwargs):
        super().__init__(**kwargs)
        if pooling not in ("mean", "max"):
            raise ValueError(f"pooling={pooling!r}: use mean or max")
        self.window_classifier, self.pooling = window_classifier, pooling
        self.backbone = window_classifier.backbone
        self.output_dense = window_classifier.output_dense
        self.pooled_dense = window_classifier.pooled_dense
        # No weights of its own: built when the window classifier is.
        self.built = window_classifier.built

    def call(self, inputs, training=False):
        real = tf.reduce_any(tf.not_equal(inputs["padding_mask"], 0), axis=-1)  # [batch, windows]
        flat = {k: tf.boolean_mask(inputs[k], real)
                for k in ("token_ids", "segment_ids", "padding_mask")}
        logits = tf.cast(self.window_classifier(flat, training=training), tf.float32)
        shape = tf.concat([tf.shape(real, out_type=tf.int64),
                           tf.shape(logits, out_type=tf.int64)[1:]], axis=0)
        per_window = tf.scatter_nd(tf.where(real), logits, shape)  # [batch, windows, classes]
        if self.pooling == "max":
            masked = tf.where(real[:, :, tf.newaxis], per_window, tf.float32.min)
            return tf.where(tf.reduce_any(real, axis=1, keepdims=True),
                            tf.reduce_max(masked, axis=1), 0.0)
        count = tf.reduce_sum(tf.cast(real, tf.float32), axis=1, keepdims=True)
        return tf.reduce_sum(per_window, axis=1) / tf.maximum(count, 1.0)

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling,
                "window_classifier": keras.saving.serialize_keras_object(self.window_classifier)}

    @classmethod
    def from_config(cls, config):
        window = keras.saving.deserialize_keras_object(config.pop("window_classifier"))
        return cls(window, **config)


def head_layers(model) -> list:
    """The classifier's layers after the encoder that have weights: DistilBERT's `pooled_dense`
    (pre_classifier) when it has one, then `output_dense`. (A BERT's pooler is the encoder's.)"""
    return [layer for layer in (model.pooled_dense, model.output_dense) if layer is not None]


def balanced_class_weights(counts) -> dict:
    """{class id: total / (classes * count)}, as scikit-learn's 'balanced'."""
    total, classes = sum(counts), len(counts)
    return {i: total / (classes * c) if c else 0.0 for i, c in enumerate(counts)}
