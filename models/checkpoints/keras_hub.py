"""keras-hub presets of a `BertBackbone` (`config.json`, `model.weights.h5`, and
`assets/tokenizer/vocabulary.txt` or a `vocab.txt`), as `save_to_preset` writes them."""

import json
import os

from models.checkpoints.checks import (
    ASSUMED_UNCASED, KERAS_HUB, TOKENIZER_JSON, Checkpoint, CheckpointError, casing_warnings,
    check_tokenizer_config, check_vocab, need, read_json, tokenizer_settings_file)
from models.core import features
from models.tokenizers.wordpiece import TOKENIZER_CONFIG_FILE, TokenizerSettings

_KERAS_HUB_VOCAB = os.path.join("assets", "tokenizer", "vocabulary.txt")


def inspect_keras_hub(path: str, config: dict) -> Checkpoint:
    """A keras-hub BertBackbone preset (`config`: its config.json), checked as `inspect`
    documents; with no tokenizer settings it is assumed uncased (a warning says so)."""
    if not config["class_name"].endswith("BertBackbone"):
        raise CheckpointError(f"{path} is a keras-hub {config['class_name']} preset; lmpipe "
                              "imports BertBackbone presets.")
    need(os.path.join(path, "model.weights.h5"), "the preset's weights")
    vocab_file = os.path.join(path, features.VOCAB_FILE)
    if not os.path.isfile(vocab_file):
        vocab_file = need(os.path.join(path, _KERAS_HUB_VOCAB),
                          f"the preset's vocabulary (or a {features.VOCAB_FILE} beside config.json)")
    backbone = config["config"]
    vocab = check_vocab(vocab_file, backbone["vocabulary_size"])
    warnings = []
    tokenizer_file = os.path.join(path, TOKENIZER_JSON)
    settings_file = tokenizer_settings_file(path, vocab_file)
    if os.path.isfile(tokenizer_file):
        lowercase = bool(read_json(tokenizer_file).get("config", {}).get("lowercase", True))
        source = f"{tokenizer_file} lowercase {json.dumps(lowercase)}"
    elif settings_file:
        settings = read_json(settings_file)
        check_tokenizer_config(settings_file, settings)
        lowercase = bool(settings.get("do_lower_case", True))
        source = f"{settings_file} do_lower_case {json.dumps(lowercase)}"
    else:
        lowercase, source = True, "assumed"
        warnings.append(f"{path} has no tokenizer settings (no {TOKENIZER_JSON}, no "
                        f"{TOKENIZER_CONFIG_FILE}): {ASSUMED_UNCASED}.")
    warnings += casing_warnings(vocab, vocab_file, lowercase, source)
    return Checkpoint(path, KERAS_HUB, vocab_file, len(vocab), TokenizerSettings(lowercase=lowercase),
                      int(backbone.get("max_sequence_length", 512)), tuple(warnings), tuple(vocab),
                      path)
