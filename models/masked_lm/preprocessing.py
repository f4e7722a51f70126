"""The masked LM's Transform `preprocessing_fn`: raw documents to packed wordpiece windows.

Only tokenization lives here, because this graph is also the serving graph: masking is a
Beam step of its own (components/mlm_masker), so nothing random is baked into serving.
"""

import tensorflow as tf

from models.core import features
from models.tokenizers import wordpiece as tokenization


def preprocessing_fn(inputs, custom_config):
    """Tokenizes `text` and packs it into `[CLS] ... [SEP]` windows of `seq_length`.

    `custom_config` holds `vocab_file` (set by the Tokenize component from its vocabulary
    input; its `tokenizer_config.json` beside it) and `seq_length`.
    """
    tokenizer = tokenization.load_tokenizer(custom_config["vocab_file"])
    return _packed(tokenizer, inputs, int(custom_config["seq_length"]))


def _packed(tokenizer: tokenization.Tokenizer, inputs, seq_length: int):
    ids = tokenizer.tokenize(tf.reshape(inputs[features.TEXT], [-1]))
    packed = tokenization.frame_windows(ids, seq_length, tokenizer.special)
    return {features.PACKED_IDS: packed.to_sparse()}


class TokenizeOnly(tf.Module):
    """What `preprocessing_fn` computes, for a model that had no Transform run (an imported
    checkpoint): it answers the two calls the exporter makes of a `tft.TFTransformOutput`.

    Its tokenizer is built once, outside any traced function, and tracked here, so that its
    tables are saved with the SavedModel."""

    def __init__(self, tokenizer: tokenization.Tokenizer, seq_length: int):
        super().__init__(name="tokenize_only")
        self.tokenizer = tokenizer
        self.seq_length = seq_length

    def __call__(self, inputs):
        return _packed(self.tokenizer, inputs, self.seq_length)

    def transform_features_layer(self):
        return self

    @staticmethod
    def raw_feature_spec():
        return {features.TEXT: tf.io.FixedLenFeature([], tf.string)}
