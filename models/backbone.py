"""The BERT encoder: a keras-hub `BertBackbone` of a named size (models/settings.py:MODEL_SIZES).

Example:

>>> backbone = build_backbone(vocab_size=100, seq_length=16, size="mini")
>>> backbone.num_layers, backbone.hidden_dim
(4, 256)
"""

import keras_hub

from models.settings import MODEL_SIZES


def build_backbone(vocab_size: int, seq_length: int, size: str = "tiny",
                   dropout: float = 0.1, dtype=None) -> keras_hub.models.BertBackbone:
    """A randomly initialised encoder; `dtype` is a dtype policy such as "mixed_bfloat16"."""
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
