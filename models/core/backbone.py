"""The encoder: keras-hub's `BertBackbone`, of a named size (models/core/settings.py:MODEL_SIZES)
or as a checkpoint made it, or keras-hub's `DistilBertBackbone` (an imported DistilBERT).

Every lmpipe model takes the same inputs, `encoder_inputs()`: `token_ids`, `segment_ids` and
`padding_mask`, each `[batch, seq_length]` int32, and reads the encoder through
`sequence_output`, which gives it the ones it has: DistilBERT has no segment embeddings, so a
text pair is `[CLS] a [SEP] b [SEP]` to it without segment ids, as Hugging Face feeds it.

Example:

>>> backbone = build_backbone(vocab_size=100, seq_length=16, size="mini")
>>> backbone.num_layers, backbone.hidden_dim, backbone.exact_gelu
(4, 256, False)
"""

import keras
import keras_hub

from models.core import keras_backports
from models.core.settings import MODEL_SIZES

keras_backports.apply()

ENCODER_INPUTS = ("token_ids", "segment_ids", "padding_mask")


def encoder_inputs() -> dict:
    """Symbolic inputs of every lmpipe model: `ENCODER_INPUTS`, each `[batch, None]` int32."""
    return {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in ENCODER_INPUTS}


@keras.saving.register_keras_serializable(package="lmpipe")
class UnusedInputs(keras.layers.Layer):
    """Returns its first input as it is. It takes the model inputs that an encoder does not
    read (DistilBERT's segment ids), so that a Keras model whose inputs are
    `ENCODER_INPUTS` is connected to all of them."""

    def call(self, x, *unused):
        return x


def sequence_output(backbone, inputs: dict):
    """The encoder's token outputs `[batch, seq, hidden]` for `inputs` (`encoder_inputs()`);
    the ones it does not read (DistilBERT: `segment_ids`) go through `UnusedInputs`."""
    outputs = backbone({name: inputs[name] for name in backbone.input})
    sequence = outputs["sequence_output"] if isinstance(outputs, dict) else outputs
    unused = [inputs[n] for n in ENCODER_INPUTS if n in inputs and n not in backbone.input]
    return UnusedInputs(name="unused_inputs")(sequence, *unused) if unused else sequence


def is_distilbert(backbone) -> bool:
    return isinstance(backbone, keras_hub.models.DistilBertBackbone)


def embedding_layers(backbone) -> list:
    """The layers before the first transformer layer (token, position and segment embeddings
    and their layer norm), for freezing."""
    if is_distilbert(backbone):
        return [backbone.embeddings, backbone.embeddings_layer_norm]
    return [backbone.token_embedding, backbone.position_embedding, backbone.segment_embedding,
            backbone.embeddings_layer_norm]


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
