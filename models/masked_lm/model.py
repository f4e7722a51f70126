"""The masked-LM model: a BERT encoder plus keras-hub's MLM head, in BertMaskedLM's layout.

Example:

>>> model = build_masked_lm(vocab_size=100, seq_length=16, size="tiny")
>>> sorted(model.input)
['mask_positions', 'padding_mask', 'segment_ids', 'token_ids']
"""

import keras
import keras_hub

from models.core.backbone import build_backbone, encoder_inputs, sequence_output


def build_masked_lm(vocab_size: int, seq_length: int, size: str = "tiny",
                    dropout: float = 0.1, dtype=None) -> keras.Model:
    """keras-hub's BertMaskedLM layout: the backbone plus an MLM head tied to the token
    embedding, giving logits `[batch, num_positions, vocab_size]` at `mask_positions`
    (`model.backbone` is the encoder).

    The head is built here rather than by BertMaskedLM so that it runs in float32 under a mixed
    precision policy: logits, softmax and loss stay float32 while the encoder computes in
    float16/bfloat16 (BertMaskedLM's own head fails there: its float32 bias meets bfloat16
    logits)."""
    return masked_lm_on(build_backbone(vocab_size, seq_length, size, dropout, dtype))


def masked_lm_on(backbone: keras_hub.models.BertBackbone,
                 layer_norm_epsilon: float = 1e-12) -> keras.Model:
    """The MLM model on a given encoder, with a new head (BERT's: dense, exact GELU, layer norm,
    output tied to the token embedding plus a bias). BERT's layer-norm epsilon is 1e-12;
    keras-hub's BertMaskedLM uses 1e-5 (models/masked_lm/checkpoint.py keeps a checkpoint's own)."""
    head = keras_hub.layers.MaskedLMHead(
        vocabulary_size=backbone.vocabulary_size, token_embedding=backbone.token_embedding,
        intermediate_activation="gelu", layer_norm_epsilon=layer_norm_epsilon,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        dtype="float32", name="mlm_head")
    inputs = {**encoder_inputs(),
              "mask_positions": keras.Input(shape=(None,), dtype="int32", name="mask_positions")}
    logits = head(sequence_output(backbone, inputs), inputs["mask_positions"])
    model = keras.Model(inputs, logits, name="bert_masked_lm")
    model.backbone = backbone
    model.pretrained_head = False  # models/masked_lm/checkpoint.py sets it when it loads a head
    return model


def masked_lm_loss():
    """Cross-entropy on logits; per-position `sample_weight` drops padded predictions."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
