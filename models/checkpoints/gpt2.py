"""GPT-2 checkpoints: a Hugging Face directory (`config.json` with `"model_type": "gpt2"`,
`model.safetensors`, `vocab.json` + `merges.txt` or `tokenizer.json`) or an lmpipe causal LM
(`causal_lm/`: a keras-hub `GPT2Backbone` preset plus its vocabulary), checked before any work
and loaded as keras-hub's `GPT2CausalLM` by models/causal_lm/checkpoint.py.

The weights go through keras-hub's own converter (keras_hub/src/utils/transformers/
convert_gpt2.py, by `GPT2Backbone.from_preset` on the local directory; nothing is downloaded).
That converter reads `vocab_size`, `n_layer`, `n_head`, `n_embd`, `n_positions` and
`resid_pdrop`, and builds what GPT-2 computes by default; every other config field that changes
the computation must have GPT-2's value (`_MUST_EQUAL`), or the checkpoint is refused
(CheckpointError naming the field) rather than loaded into a model that computes something
else.

>>> ckpt = inspect_gpt2("tests/data/gpt2_parity/checkpoint")
>>> ckpt.format, ckpt.num_layers, ckpt.positions, ckpt.vocab_size
('huggingface', 3, 64, 512)
"""

import dataclasses
import json
import os
from typing import Tuple

from models.tokenizers import bpe

HUGGINGFACE, LMPIPE = "huggingface", "lmpipe"
CAUSAL_LM_DIR = "causal_lm"  # an lmpipe causal model's preset, beside its SavedModel
WEIGHTS_FILE = "model.safetensors"
# What keras-hub's GPT2Backbone computes; a checkpoint that says otherwise is refused.
_MUST_EQUAL = {
    "activation_function": ("gelu_new",),
    "layer_norm_epsilon": (1e-5,),
    "scale_attn_weights": (True,),
    "scale_attn_by_inverse_layer_idx": (False,),
    "reorder_and_upcast_attn": (False,),
    "add_cross_attention": (False,),
    "tie_word_embeddings": (True,),
}


class CheckpointError(ValueError):
    """A checkpoint lmpipe cannot read exactly; the message names the file and field."""


@dataclasses.dataclass(frozen=True)
class GPT2Checkpoint:
    path: str
    format: str  # HUGGINGFACE or LMPIPE
    preset: str  # the directory keras-hub loads the backbone from
    vocab_dir: str  # where vocab.json + merges.txt (or tokenizer.json) are
    vocab_size: int  # rows of the token embedding
    positions: int
    num_layers: int
    hidden_dim: int


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: cannot be read as JSON ({error})") from None


# The sizes keras-hub's converter (convert_backbone_config) and GPT2Backbone's preset read with
# no default: a config without one is refused by name, not met by a KeyError mid-load.
_HF_SIZES = ("vocab_size", "n_layer", "n_head", "n_embd", "n_positions")  # and resid_pdrop
_LMPIPE_SIZES = ("vocabulary_size", "num_layers", "num_heads", "hidden_dim",
                 "max_sequence_length")


def _sizes(config_file: str, config: dict, fields, also=()) -> dict:
    """`fields` of `config` as positive ints; CheckpointError names every missing or bad one
    (`also`: fields that must be present, of any value)."""
    missing = [f for f in (*fields, *also) if f not in config]
    if missing:
        raise CheckpointError(
            f"{config_file}: no {', '.join(missing)}; lmpipe reads the model's sizes from these "
            "fields (transformers' save_pretrained and keras-hub's save_to_preset write them all)")
    bad = [f"{f} = {config[f]!r}" for f in fields
           if isinstance(config[f], bool) or not isinstance(config[f], int) or config[f] < 1]
    if bad:
        raise CheckpointError(f"{config_file}: {', '.join(bad)}: each must be a positive integer")
    return {f: config[f] for f in fields}


def is_gpt2(path: str) -> bool:
    """Whether `path` looks like a GPT-2 checkpoint (either format); reads only its config,
    here or on a cluster file system (gs://...: tf.io.gfile). Raises CheckpointError if the
    config cannot be read."""
    import tensorflow as tf

    if tf.io.gfile.exists(f"{path.rstrip('/')}/{CAUSAL_LM_DIR}/config.json"):
        return True
    config = f"{path.rstrip('/')}/config.json"
    if not tf.io.gfile.exists(config):
        return False
    try:
        with tf.io.gfile.GFile(config) as f:
            return json.loads(f.read()).get("model_type") == "gpt2"
    except (tf.errors.OpError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{config}: cannot be read as JSON ({error})") from None


def inspect_gpt2(path: str) -> GPT2Checkpoint:
    """Checks a GPT-2 checkpoint without loading weights; raises CheckpointError."""
    path = os.path.abspath(path)
    if os.path.isfile(os.path.join(path, CAUSAL_LM_DIR, "config.json")):
        preset = os.path.join(path, CAUSAL_LM_DIR)
        config = _read_json(os.path.join(preset, "config.json"))["config"]
        config_file = os.path.join(preset, "config.json")
        config = _read_json(config_file).get("config")
        if not isinstance(config, dict):
            raise CheckpointError(f"{config_file}: no \"config\" object; an lmpipe causal LM's "
                                  "preset is written by keras-hub's save_to_preset")
        sizes = _sizes(config_file, config, _LMPIPE_SIZES)
        ckpt = GPT2Checkpoint(path, LMPIPE, preset, preset, sizes["vocabulary_size"],
                              sizes["max_sequence_length"], sizes["num_layers"],
                              sizes["hidden_dim"])
    else:
        config_file = os.path.join(path, "config.json")
        if not os.path.isfile(config_file):
            raise CheckpointError(f"{path}: no config.json; a GPT-2 checkpoint is a Hugging Face "
                                  "directory (config.json, model.safetensors, vocab.json + "
                                  "merges.txt) or an lmpipe causal LM")
        config = _read_json(config_file)
        if config.get("model_type") != "gpt2":
            raise CheckpointError(
                f"{config_file}: model_type {config.get('model_type')!r} is not 'gpt2': causal "
                "pretraining and generation take GPT-2 checkpoints (a BERT-style checkpoint "
                "goes to `lmpipe pretrain --objective masked` or `lmpipe finetune`)")
        for field, allowed in _MUST_EQUAL.items():
            if field in config and config[field] not in allowed:
                raise CheckpointError(
                    f"{config_file}: {field} = {config[field]!r}, but lmpipe's GPT-2 (keras-hub's "
                    f"GPT2Backbone) computes {allowed[0]!r}: it would not compute what this "
                    "checkpoint was trained to")
        sizes = _sizes(config_file, config, _HF_SIZES, also=("resid_pdrop",))
        if sizes["n_embd"] % sizes["n_head"]:
            raise CheckpointError(f"{config_file}: n_embd = {sizes['n_embd']} is not a multiple "
                                  f"of n_head = {sizes['n_head']}")
        inner = config.get("n_inner")
        if inner not in (None, 4 * config["n_embd"]):
            raise CheckpointError(f"{config_file}: n_inner = {inner}, but GPT2Backbone's "
                                  f"feed-forward is 4 x n_embd ({4 * config['n_embd']})")
        if not os.path.isfile(os.path.join(path, WEIGHTS_FILE)):
            raise CheckpointError(f"{path}: no {WEIGHTS_FILE} (lmpipe reads safetensors "
                                  "weights; save with `save_pretrained(safe_serialization=True)`)")
        ckpt = GPT2Checkpoint(path, HUGGINGFACE, path, path, sizes["vocab_size"],
                              sizes["n_positions"], sizes["n_layer"], sizes["n_embd"])
    try:
        vocab, _ = bpe.read_bpe(ckpt.vocab_dir)
    except bpe.BPEVocabularyError as error:
        raise CheckpointError(str(error)) from None
    if len(vocab) > ckpt.vocab_size:
        raise CheckpointError(
            f"{ckpt.vocab_dir}: the vocabulary has {len(vocab)} tokens but the model's token "
            f"embedding has {ckpt.vocab_size} rows: the vocabulary and the weights do not belong "
            "together")
    return ckpt


def check_positions(ckpt: GPT2Checkpoint, seq_length: int, flag: str = "--seq-length") -> None:
    if seq_length > ckpt.positions:
        raise CheckpointError(
            f"{flag} {seq_length} is longer than the {ckpt.positions} positions of {ckpt.path} "
            f"(its position embedding): use {flag} {ckpt.positions} or less")


def read_vocabulary(ckpt: GPT2Checkpoint) -> Tuple[dict, list]:
    return bpe.read_bpe(ckpt.vocab_dir)
