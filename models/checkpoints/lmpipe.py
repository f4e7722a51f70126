"""lmpipe's own models (what `lmpipe pretrain` or `lmpipe import` wrote: `encoder/`, a
keras-hub preset with lmpipe's vocabulary and tokenizer settings), and the head of an imported
classifier saved beside its encoder (`classifier_head.npz`)."""

import json
import os
import re
from typing import Sequence

import numpy as np

from models.checkpoints.checks import (
    CLASSIFIER_HEAD_WEIGHTS, LMPIPE, TEXT_CLASSIFICATION, Checkpoint, casing_warnings,
    check_tokenizer_config, check_vocab, need, read_json, tokenizer_settings_file)
from models.core import encoder
from models.tokenizers.wordpiece import TokenizerSettings


def inspect_lmpipe(path: str) -> Checkpoint:
    """An lmpipe model directory (its `encoder/` preset, vocabulary and tokenizer settings),
    checked as `inspect` documents; raises CheckpointError."""
    enc = encoder.encoder_dir(path)
    vocab_file = need(encoder.vocab_file(enc), "the vocabulary lmpipe saves beside its encoder")
    backbone = read_json(os.path.join(enc, "config.json"))["config"]
    vocab = check_vocab(vocab_file, backbone["vocabulary_size"])
    settings_file = tokenizer_settings_file(enc, vocab_file)
    if settings_file:
        check_tokenizer_config(settings_file, read_json(settings_file))
    settings = TokenizerSettings.read(vocab_file)
    source = (f"{settings_file} do_lower_case {json.dumps(settings.lowercase)}" if settings_file
              else "lmpipe's default without tokenizer_config.json")
    return Checkpoint(path, LMPIPE, vocab_file, len(vocab), settings,
                      int(backbone.get("max_sequence_length", 512)),
                      tuple(casing_warnings(vocab, vocab_file, settings.lowercase, source)),
                      tuple(vocab), path)


def classifier_head(encoder_dir: str, task: str = TEXT_CLASSIFICATION):
    """(class names, head weights in the order of models/text_classification/model.py: head_layers, or
    the token classifier's output dense) of an imported classifier of `task` saved beside its
    encoder (save_classifier, save_token_classifier), or None (no head, or another task's)."""
    path = os.path.join(encoder_dir, CLASSIFIER_HEAD_WEIGHTS)
    if not os.path.isfile(path):
        return None
    with np.load(path) as saved:
        saved_task = str(saved["task"]) if "task" in saved.files else TEXT_CLASSIFICATION
        if saved_task != task:
            return None
        count = sum(re.fullmatch(r"w\d+", name) is not None for name in saved.files)
        return [str(c) for c in saved["classes"]], [saved[f"w{i}"] for i in range(count)]


def write_classifier_head(encoder_dir: str, classes: Sequence[str], task: str, weights) -> str:
    """Writes `classifier_head.npz` beside a saved encoder: the class names (id order), the task
    (TEXT_CLASSIFICATION or TOKEN_CLASSIFICATION) and the head's weights (`w0`, `w1`, ... in the
    order the family's model gives them), which `classifier_head` reads back."""
    path = os.path.join(encoder_dir, CLASSIFIER_HEAD_WEIGHTS)
    with open(path, "wb") as f:
        np.savez(f, classes=np.array(list(classes)), task=np.array(task),
                 **{f"w{i}": w for i, w in enumerate(weights)})
    return path
