"""The BERT encoder: keras-hub's `BertBackbone`, of a named size (models/settings.py:MODEL_SIZES)
or as a checkpoint made it.

Example:

>>> backbone = build_backbone(vocab_size=100, seq_length=16, size="mini")
>>> backbone.num_layers, backbone.hidden_dim, backbone.exact_gelu
(4, 256, False)
"""

import keras
import keras_hub

from models.settings import MODEL_SIZES


@keras.saving.register_keras_serializable(package="lmpipe")
class BertEncoder(keras_hub.models.BertBackbone):
    """keras-hub's BertBackbone with the feed-forward GELU its checkpoint was trained with.

    keras-hub's BERT uses the tanh approximation (as Google's original BERT did); Hugging
    Face's `hidden_act: "gelu"` is the exact one, and the two differ by up to 1e-3 per layer.
    Saved and loaded as a keras-hub preset like BertBackbone (`exact_gelu` is in its config).
    """

    def __init__(self, *args, exact_gelu: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.exact_gelu = exact_gelu
        if exact_gelu:
            for layer in self.transformer_layers:
                layer._feedforward_intermediate_dense.activation = keras.activations.gelu

    def get_config(self):
        return {**super().get_config(), "exact_gelu": self.exact_gelu}


def build_backbone(vocab_size: int, seq_length: int, size: str = "tiny",
                   dropout: float = 0.1, dtype=None) -> BertEncoder:
    """A randomly initialised encoder; `dtype` is a dtype policy such as "mixed_bfloat16"."""
    dims = MODEL_SIZES[size]
    return BertEncoder(
        vocabulary_size=vocab_size,
        num_layers=dims["num_layers"],
        num_heads=dims["num_heads"],
        hidden_dim=dims["hidden_dim"],
        intermediate_dim=4 * dims["hidden_dim"],
        dropout=dropout,
        max_sequence_length=seq_length,
        dtype=dtype,
    )
