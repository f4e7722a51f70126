"""The causal language model (GPT-2): blocks of byte-level BPE tokens, keras-hub's
`GPT2Backbone` + its tied LM head (`GPT2CausalLM`), next-token loss.

Data (as Hugging Face's `run_clm.py`: `group_texts`): the Tokenize step (Transform) tokenizes
each document, ends it with `<|endoftext|>`, joins the documents of a batch and cuts the stream
into blocks of `seq_length` tokens, dropping the batch's last partial block. A block of T
tokens is one example, `token_ids` `[T]` int64; the model reads its first T - 1 tokens and is
scored on predicting tokens 2..T (T - 1 predictions, as `GPT2LMHeadModel(labels=input_ids)`).

>>> model = build_causal_lm(vocab_size=50, seq_length=16, size="tiny")
>>> model.backbone.num_layers, model.backbone.hidden_dim, model.backbone.max_sequence_length
(2, 128, 16)
>>> ids = tf.constant([[7, 8, 9, 10]], tf.int64)
>>> x, y = next_token_pairs(ids)
>>> x["token_ids"].numpy().tolist(), y.numpy().tolist()
([[7, 8, 9]], [[8, 9, 10]])
"""

from typing import List

import keras
import keras_hub
import tensorflow as tf

from models.core import features
from models.tokenizers.bpe import ByteLevelBPE
from models.core.settings import MODEL_SIZES


def build_causal_lm(vocab_size: int, seq_length: int, size: str = "tiny",
                    dropout: float = 0.1, dtype=None) -> keras.Model:
    """A randomly initialised `GPT2CausalLM` of a named size (models/core/settings.py
    MODEL_SIZES; "base" is GPT-2's 124M architecture) with `seq_length` positions. Inputs
    `token_ids`, `padding_mask` `[batch, length]` int32; output logits `[batch, length,
    vocab_size]` (float32 under mixed precision: the head is the tied token embedding)."""
    dims = MODEL_SIZES[size]
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=vocab_size, num_layers=dims["num_layers"], num_heads=dims["num_heads"],
        hidden_dim=dims["hidden_dim"], intermediate_dim=4 * dims["hidden_dim"], dropout=dropout,
        max_sequence_length=seq_length, dtype=dtype)
    init_like_gpt2(backbone)
    return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)


def init_like_gpt2(backbone, initializer_range: float = 0.02) -> None:
    """Redraws a fresh `GPT2Backbone`'s weights as GPT-2 initialises them: token embeddings
    from N(0, 0.02) (keras-hub draws them from N(0, 0.01)), and in each block the two
    projections that write into the residual stream (attention output, feed-forward output)
    from N(0, 0.02 / sqrt(2 * num_layers)), "scaling the weights of residual layers at
    initialization by 1/sqrt(N)" (Radford et al. 2019, section 2.3; transformers'
    `GPT2PreTrainedModel._init_weights`, the `c_proj.weight` rule). The other weights keep
    keras-hub's draws, which already are GPT-2's (N(0, 0.02) kernels and position embeddings,
    zero biases, unit LayerNorm scales). Draws follow `keras.utils.set_random_seed`."""
    residual_std = initializer_range / (2 * backbone.num_layers) ** 0.5
    redraw = [(backbone.token_embedding.embeddings, initializer_range)]
    for layer in backbone.transformer_layers:
        redraw += [(layer._self_attention_layer._output_dense.kernel, residual_std),
                   (layer._feedforward_output_dense.kernel, residual_std)]
    for variable, std in redraw:
        draw = keras.initializers.RandomNormal(stddev=std)(variable.shape, "float32")
        variable.assign(keras.ops.cast(draw, variable.dtype))


def causal_lm_loss():
    """Mean next-token cross-entropy (nats) over the predicted positions."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def next_token_pairs(token_ids: tf.Tensor):
    """`[batch, T]` blocks -> (model inputs of the first T - 1 tokens, the next tokens)."""
    token_ids = tf.cast(token_ids, tf.int32)
    inputs = token_ids[:, :-1]
    return ({"token_ids": inputs, "padding_mask": tf.ones_like(inputs)}, token_ids[:, 1:])


def parse_blocks(serialized: tf.Tensor, seq_length: int) -> tf.Tensor:
    """Serialized Tokenize examples -> `[batch, seq_length]` int64 `token_ids`."""
    spec = {features.TOKEN_IDS: tf.io.FixedLenFeature([seq_length], tf.int64)}
    return tf.io.parse_example(serialized, spec)[features.TOKEN_IDS]


def causal_lm_dataset(file_patterns: List[str], seq_length: int, batch_size: int,
                      shuffle: bool = True, repeat: bool = True, seed: int = 42):
    """(inputs, next tokens) batches of the Tokenize step's blocks."""
    from models.core.inputs import tfrecord_dataset

    return tfrecord_dataset(file_patterns, batch_size,
                            lambda serialized: next_token_pairs(parse_blocks(serialized,
                                                                             seq_length)),
                            shuffle=shuffle, repeat=repeat, seed=seed)


# -- the Transform preprocessing_fn -------------------------------------------------------------

def group_texts(ids: tf.RaggedTensor, eot_id: int, block: int) -> tf.Tensor:
    """Documents' ids `[docs, (tokens)]` -> `[blocks, block]`: each document followed by EOT,
    all joined, cut into blocks; the last partial block dropped (run_clm.py's `group_texts`).

    >>> group_texts(tf.ragged.constant([[1, 2, 3], [4], []], tf.int64), eot_id=0,
    ...             block=3).numpy().tolist()
    [[1, 2, 3], [0, 4, 0]]
    """
    eot = tf.fill([ids.nrows(), 1], tf.constant(eot_id, ids.dtype))
    stream = tf.concat([ids, eot], axis=1).flat_values
    blocks = tf.size(stream, out_type=tf.int64) // block
    return tf.reshape(stream[:blocks * block], [-1, block])


def causal_lm_preprocessing_fn(inputs, custom_config):
    """Raw documents (`text`) -> blocks of `seq_length` byte-level BPE ids (`token_ids`).

    `custom_config`: `vocab_file` (the vocabulary's `vocab.json`, set by the Tokenize
    component; `merges.txt` beside it) and `seq_length`. The output's batch is the blocks,
    not the documents (tf.Transform allows it: every output has the same batch)."""
    import os

    tokenizer = custom_config.get("tokenizer") or ByteLevelBPE.load(
        os.path.dirname(custom_config["vocab_file"]))
    ids = tokenizer.tokenize(tf.reshape(inputs[features.TEXT], [-1]))
    return {features.TOKEN_IDS: group_texts(ids, tokenizer.eot_id,
                                            int(custom_config["seq_length"]))}
