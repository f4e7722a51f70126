"""Checkpoints from elsewhere, read into lmpipe's models and tokenizer: one module per format,
and the checks they share (`checks.py`).

- **Hugging Face** BERT / DistilBERT (`huggingface.py`: `config.json` with `"model_type":
  "bert"` or `"distilbert"`, `model.safetensors`, `vocab.txt` and `tokenizer_config.json` and/or
  `tokenizer.json`): the weights through keras-hub's own converters
  (`keras_hub/src/utils/transformers/convert_bert.py`, `convert_distilbert.py`);
- **sentence-transformers** (`sentence_transformers.py`: `modules.json` naming a Hugging Face
  Transformer module and its Pooling);
- **keras-hub preset** (`keras_hub.py`: `config.json` naming `BertBackbone`, `model.weights.h5`,
  and `assets/tokenizer/vocabulary.txt` or a `vocab.txt`), as `save_to_preset` writes it;
- **lmpipe** (`lmpipe.py`: a model that lmpipe pretrain or import wrote: `encoder/`);
- **GPT-2** (`gpt2.py`: a Hugging Face GPT-2 or an lmpipe causal LM), checked on its own.

A task family turns a checkpoint into its model in its own folder
(`models/<family>/checkpoint.py`: `load_masked_lm`, `load_text_classifier`,
`load_token_classifier`, `load_span_model`, `load_causal_lm`), so a format module never imports a family.

Nothing is downloaded: a checkpoint is a local directory. `inspect` reads it exactly or refuses
it before any work (CheckpointError): every config.json field is in one of the tables of
`huggingface.py` (`_HONOURED`, `_MUST_EQUAL`, `_IGNORED`; an unknown one is a warning), every
tensor is used or known unused, the vocabulary has each token once, and the tokenizer settings
are ones lmpipe tokenizes as Hugging Face does; what it assumed (no tokenizer settings) or what
looks wrong (a vocabulary whose casing contradicts them) is in `Checkpoint.warnings`.

Example:

>>> ckpt = inspect("tests/data/bert_parity/checkpoint")
>>> ckpt.format, ckpt.vocab_size, ckpt.tokenizer.lowercase, ckpt.warnings
('huggingface', 2925, False, ())
"""

import os

from models.checkpoints.checks import (  # noqa: F401  (the package's names for its callers)
    CLASSIFIER_HEAD_WEIGHTS, HUGGINGFACE, KERAS_HUB, LMPIPE, MODULES_JSON, QUESTION_ANSWERING,
    TEXT_CLASSIFICATION, TOKEN_CLASSIFICATION, Checkpoint, CheckpointError, read_json,
    vocab_from_tokenizer_json)
from models.checkpoints.huggingface import inspect_huggingface
from models.checkpoints.keras_hub import inspect_keras_hub
from models.checkpoints.lmpipe import classifier_head, inspect_lmpipe  # noqa: F401
from models.checkpoints.sentence_transformers import inspect_sentence_transformers
from models.core import encoder
from models.tokenizers.wordpiece import VocabularyError


def inspect(path: str) -> Checkpoint:
    """Tells the format of `path` and checks its files, without loading weights: every
    config.json field that changes what the model computes is honoured or refused, every tensor
    is one lmpipe uses or knows it does not need, the vocabulary has each token once, and the
    tokenizer settings are ones lmpipe tokenizes exactly. Raises CheckpointError (the message
    names the file, the field or token, and what to do); what was assumed or looks wrong but is
    not refused is in `warnings`."""
    path = os.path.abspath(path)
    if not os.path.isdir(path):
        raise CheckpointError(f"{path} is not a directory: give a Hugging Face BERT checkpoint "
                              "directory, a keras-hub preset directory or an lmpipe model.")
    try:
        return _inspect(path)
    except VocabularyError as e:
        raise CheckpointError(str(e)) from None


def _inspect(path: str) -> Checkpoint:
    if os.path.isfile(os.path.join(path, encoder.ENCODER_DIR, "config.json")):
        return inspect_lmpipe(path)
    if os.path.isfile(os.path.join(path, MODULES_JSON)):
        return inspect_sentence_transformers(path)
    config_file = os.path.join(path, "config.json")
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise CheckpointError(
            f"{path} is a SavedModel (a pushed or exported model serves, but holds no encoder to "
            "start from): give the lmpipe run directory that pushed it, or its model directory "
            "(<run dir>/pipeline/Trainer/model/<id>, with encoder/).")
    if not os.path.isfile(config_file):
        raise CheckpointError(
            f"{path} is not a checkpoint lmpipe knows: expected a Hugging Face BERT checkpoint "
            "(config.json, model.safetensors, vocab.txt), a keras-hub preset (config.json, "
            "model.weights.h5) or an lmpipe model (encoder/); found "
            f"{', '.join(sorted(os.listdir(path))[:8]) or 'an empty directory'}.")
    config = read_json(config_file)
    if "model_type" in config:
        return inspect_huggingface(path, config)
    if "class_name" in config and "config" in config:
        return inspect_keras_hub(path, config)
    raise CheckpointError(f"{config_file} is neither a Hugging Face config (no model_type) nor a "
                          "keras-hub preset config (no class_name).")
