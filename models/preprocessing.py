"""The Transform `preprocessing_fn`: raw documents to packed wordpiece windows.

Only tokenization lives here, because this graph is also the serving graph: masking is a
Beam step of its own (components/mlm_masker), so nothing random is baked into serving.
"""

import tensorflow as tf

from models import features, tokenization


def preprocessing_fn(inputs, custom_config):
    """Tokenizes `text` and packs it into `[CLS] ... [SEP]` windows of `seq_length`.

    `custom_config` holds `vocab_file` (set by the Tokenize component from its vocabulary
    input) and `seq_length`.
    """
    vocab = tokenization.read_vocab(custom_config["vocab_file"])
    tokenizer = tokenization.WordpieceTokenizer(vocab)
    texts = tf.reshape(inputs[features.TEXT], [-1])
    ids = tokenizer.tokenize(texts)
    packed = tokenization.frame_windows(ids, int(custom_config["seq_length"]))
    return {features.PACKED_IDS: packed.to_sparse()}
