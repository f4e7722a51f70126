"""A keras-hub BERT backbone with a masked-LM head, from a named size.

Example:

>>> model = build_masked_lm(vocab_size=100, seq_length=16, size="tiny")
>>> sorted(model.input)
['mask_positions', 'padding_mask', 'segment_ids', 'token_ids']
"""

import keras
import keras_hub

from pipeline.config import MODEL_SIZES


def build_backbone(vocab_size: int, seq_length: int, size: str = "tiny",
                   dropout: float = 0.1, dtype=None) -> keras_hub.models.BertBackbone:
    """BERT encoder of a named size (see pipeline.config.MODEL_SIZES)."""
    dims = MODEL_SIZES[size]
    return keras_hub.models.BertBackbone(
        vocabulary_size=vocab_size,
        num_layers=dims["num_layers"],
        num_heads=dims["num_heads"],
        hidden_dim=dims["hidden_dim"],
        intermediate_dim=4 * dims["hidden_dim"],
        dropout=dropout,
        max_sequence_length=seq_length,
        dtype=dtype,
    )


def build_masked_lm(vocab_size: int, seq_length: int, size: str = "tiny",
                    dropout: float = 0.1, dtype=None) -> keras_hub.models.BertMaskedLM:
    """BertMaskedLM: backbone plus an MLM head tied to the token embedding; outputs logits
    `[batch, num_positions, vocab_size]` at `mask_positions`."""
    backbone = build_backbone(vocab_size, seq_length, size, dropout, dtype)
    return keras_hub.models.BertMaskedLM(backbone=backbone, preprocessor=None)


def masked_lm_loss():
    """Cross-entropy on logits; per-position `sample_weight` drops padded predictions."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
