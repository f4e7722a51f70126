"""The saved encoder: the one owner of its layout, its vocabulary and their size check.

A pretrained model directory (the Trainer's Model artifact) holds `Format-Serving/` (the
fill-mask SavedModel) and `encoder/`: the `BertBackbone` (or an imported DistilBERT's
`DistilBertBackbone`) as a local keras-hub preset
(`config.json`, `model.weights.h5`, ...) with the vocabulary it was trained on (`vocab.txt`).
Fine-tuning starts from it.

Example:

>>> encoder_dir("runs/p/pipeline/Trainer/model/7")
'runs/p/pipeline/Trainer/model/7/encoder'
>>> encoder_dir("runs/p/pipeline/Trainer/model/7/Format-Serving/")
'runs/p/pipeline/Trainer/model/7/encoder'
"""

import json
import os

from models.core import features

ENCODER_DIR = "encoder"
SERVING_DIR = "Format-Serving"  # TFX's name for the SavedModel inside a Model artifact


class EncoderError(ValueError):
    """A saved encoder is missing or does not match its vocabulary; says what to use."""


def encoder_dir(model_dir: str) -> str:
    """`<model>/encoder` for a Model artifact directory or its `Format-Serving/` SavedModel."""
    model_dir = model_dir.rstrip("/")
    if os.path.basename(model_dir) == SERVING_DIR:
        model_dir = os.path.dirname(model_dir)
    return os.path.join(model_dir, ENCODER_DIR)


def vocab_file(encoder: str) -> str:
    return os.path.join(encoder, features.VOCAB_FILE)


def save_encoder(backbone, model_dir: str, vocabulary, tokenizer=None) -> str:
    """Writes `backbone` as a keras-hub preset with its vocabulary and tokenizer settings;
    returns the dir. `vocabulary`: a vocab file to copy (with the tokenizer_config.json beside
    it), or the tokens in id order to write as `vocab.txt`; `tokenizer`: a TokenizerSettings to
    write (else those beside the vocabulary file)."""
    from models.tokenizers.wordpiece import copy_vocabulary

    encoder = encoder_dir(model_dir)
    backbone.save_to_preset(encoder)
    if isinstance(vocabulary, str):
        copy_vocabulary(vocabulary, encoder)
    else:
        import tensorflow as tf

        with tf.io.gfile.GFile(vocab_file(encoder), "w") as f:
            f.write("".join(token + "\n" for token in vocabulary))
    if tokenizer is not None:
        tokenizer.write(encoder)
    return encoder


def load_encoder(encoder: str, pretrained: bool = True, dtype=None):
    """The saved encoder (a `BertBackbone`, or an imported DistilBERT's `DistilBertBackbone`:
    the class its config.json names); with `pretrained=False`, the same architecture with fresh
    random weights. `dtype`: a dtype policy such as "mixed_bfloat16" (default: float32)."""
    import keras_hub

    import models.core.backbone  # noqa: F401  (registers BertEncoder, which saved encoders name)

    kwargs = {"dtype": dtype} if dtype else {}
    return keras_hub.models.Backbone.from_preset(encoder, load_weights=pretrained, **kwargs)


def vocabulary_size(encoder: str) -> int:
    """Token embeddings of the saved encoder (from its config, without loading weights)."""
    with open(os.path.join(encoder, "config.json")) as f:
        return json.load(f)["config"]["vocabulary_size"]


def check_vocabulary(encoder: str, vocab_size: int, vocabulary_file: str) -> int:
    """The encoder's embedding table and the vocabulary must have the same size."""
    embeddings = vocabulary_size(encoder)
    if vocab_size != embeddings:
        raise EncoderError(
            f"vocabulary mismatch: {vocabulary_file} has {vocab_size} tokens but the encoder "
            f"in {encoder} has {embeddings} token embeddings. Use the vocabulary and encoder "
            "of one pretraining run.")
    return vocab_size
