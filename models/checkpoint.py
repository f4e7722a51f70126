"""BERT checkpoints from elsewhere, read into lmpipe's masked-LM model and tokenizer.

Three formats, told apart by their files:

- **Hugging Face** (`config.json` with `"model_type": "bert"`, `model.safetensors`, `vocab.txt`,
  `tokenizer_config.json`): the weights through keras-hub's own converter
  (`keras_hub/src/utils/transformers/convert_bert.py`), plus the MLM head (`cls.predictions.*`)
  when the checkpoint has one;
- **keras-hub preset** (`config.json` naming `BertBackbone`, `model.weights.h5`, and
  `assets/tokenizer/vocabulary.txt` or a `vocab.txt`), as `save_to_preset` writes it;
- **lmpipe** (a model that lmpipe pretrain or import wrote: `encoder/`); pipeline/ finds one
  in a run directory.

Nothing is downloaded: a checkpoint is a local directory.

Example:

>>> ckpt = inspect("tests/data/bert_parity/checkpoint")
>>> ckpt.format, ckpt.vocab_size, ckpt.tokenizer.lowercase
('huggingface', 2925, False)
>>> model = load_masked_lm(ckpt)
>>> model.backbone.num_layers, model.get_layer("mlm_head").vocabulary_size
(2, 2925)
"""

import dataclasses
import json
import os
from typing import Optional

import numpy as np
from absl import logging

from models import encoder, features
from models.tokenization import TOKENIZER_CONFIG_FILE, TokenizerSettings, read_vocab

HUGGINGFACE, KERAS_HUB, LMPIPE = "huggingface", "keras_hub", "lmpipe"
MLM_HEAD_WEIGHTS = "mlm_head.npz"  # beside a saved encoder (models/encoder.py)
# Hugging Face's names: exact GELU or its tanh approximation (models/backbone.py: BertEncoder).
_GELU = {"gelu": True, "gelu_new": False, "gelu_pytorch_tanh": False, "gelu_fast": False}
_KERAS_HUB_VOCAB = os.path.join("assets", "tokenizer", "vocabulary.txt")


class CheckpointError(ValueError):
    """A directory is not a BERT checkpoint lmpipe can read; the message says what it expected."""


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    path: str
    format: str
    vocab_file: str
    vocab_size: int
    tokenizer: TokenizerSettings
    max_sequence_length: int  # position embeddings


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not readable JSON: {e}") from None


def _need(path: str, what: str) -> str:
    if not os.path.isfile(path):
        raise CheckpointError(f"{path} is missing: {what}")
    return path


def inspect(path: str) -> Checkpoint:
    """Tells the format of `path` and checks its files, without loading weights."""
    path = os.path.abspath(path)
    if not os.path.isdir(path):
        raise CheckpointError(f"{path} is not a directory: give a Hugging Face BERT checkpoint "
                              "directory, a keras-hub preset directory or an lmpipe model.")
    if os.path.isfile(os.path.join(path, encoder.ENCODER_DIR, "config.json")):
        return _inspect_lmpipe(path)
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
    config = _read_json(config_file)
    if "model_type" in config:
        return _inspect_huggingface(path, config)
    if "class_name" in config and "config" in config:
        return _inspect_keras_hub(path, config)
    raise CheckpointError(f"{config_file} is neither a Hugging Face config (no model_type) nor a "
                          "keras-hub preset config (no class_name).")


def _check_vocab(vocab_file: str, embeddings: int) -> int:
    size = len(read_vocab(vocab_file))
    if size != embeddings:
        raise CheckpointError(
            f"{vocab_file} has {size} tokens but the model has {embeddings} token embeddings: "
            "the vocabulary must be the one the checkpoint was trained with.")
    return size


def _inspect_huggingface(path: str, config: dict) -> Checkpoint:
    if config["model_type"] != "bert":
        raise CheckpointError(
            f"{path} is a Hugging Face '{config['model_type']}' checkpoint; lmpipe imports BERT "
            "(config.json model_type 'bert').")
    if not os.path.isfile(os.path.join(path, "model.safetensors")):
        hint = ("it has only pytorch_model.bin: convert it once with transformers, "
                "`AutoModelForMaskedLM.from_pretrained(d).save_pretrained(d)` (writes safetensors)"
                if os.path.isfile(os.path.join(path, "pytorch_model.bin"))
                else "the weights are not there")
        raise CheckpointError(f"{path}/model.safetensors is missing: {hint}.")
    if config.get("hidden_act", "gelu") not in _GELU:
        raise CheckpointError(f"{path}/config.json: hidden_act {config['hidden_act']!r} is not "
                              f"supported (one of {', '.join(_GELU)}).")
    vocab_file = _need(os.path.join(path, features.VOCAB_FILE), "a BERT checkpoint's WordPiece "
                       "vocabulary, one token per line in id order (transformers 5 saves only "
                       "tokenizer.json: its model.vocab holds the same tokens and ids)")
    tok_config = {}
    if os.path.isfile(os.path.join(path, TOKENIZER_CONFIG_FILE)):
        tok_config = _read_json(os.path.join(path, TOKENIZER_CONFIG_FILE))
    if tok_config.get("tokenize_chinese_chars") is False:
        raise CheckpointError(f"{path}/{TOKENIZER_CONFIG_FILE}: tokenize_chinese_chars=false is "
                              "not supported (lmpipe splits CJK characters as BERT does).")
    # BertTokenizer's defaults when the file does not say.
    settings = TokenizerSettings(lowercase=bool(tok_config.get("do_lower_case", True)),
                                 strip_accents=tok_config.get("strip_accents"))
    return Checkpoint(path, HUGGINGFACE, vocab_file, _check_vocab(vocab_file, config["vocab_size"]),
                      settings, int(config.get("max_position_embeddings", 512)))


def _inspect_keras_hub(path: str, config: dict) -> Checkpoint:
    if not config["class_name"].endswith("BertBackbone"):
        raise CheckpointError(f"{path} is a keras-hub {config['class_name']} preset; lmpipe "
                              "imports BertBackbone presets.")
    _need(os.path.join(path, "model.weights.h5"), "the preset's weights")
    vocab_file = os.path.join(path, features.VOCAB_FILE)
    if not os.path.isfile(vocab_file):
        vocab_file = _need(os.path.join(path, _KERAS_HUB_VOCAB),
                           f"the preset's vocabulary (or a {features.VOCAB_FILE} beside config.json)")
    lowercase = True
    tokenizer_file = os.path.join(path, "tokenizer.json")
    if os.path.isfile(tokenizer_file):
        lowercase = bool(_read_json(tokenizer_file).get("config", {}).get("lowercase", True))
    elif os.path.isfile(os.path.join(path, TOKENIZER_CONFIG_FILE)):
        lowercase = TokenizerSettings.read(vocab_file).lowercase
    backbone = config["config"]
    return Checkpoint(path, KERAS_HUB, vocab_file, _check_vocab(vocab_file, backbone["vocabulary_size"]),
                      TokenizerSettings(lowercase=lowercase),
                      int(backbone.get("max_sequence_length", 512)))


def _inspect_lmpipe(path: str) -> Checkpoint:
    enc = encoder.encoder_dir(path)
    vocab_file = _need(encoder.vocab_file(enc), "the vocabulary lmpipe saves beside its encoder")
    backbone = _read_json(os.path.join(enc, "config.json"))["config"]
    return Checkpoint(path, LMPIPE, vocab_file, _check_vocab(vocab_file, backbone["vocabulary_size"]),
                      TokenizerSettings.read(vocab_file), int(backbone.get("max_sequence_length", 512)))


class _SafetensorLoader:
    """keras-hub's SafetensorLoader, also finding `LayerNorm.weight`/`.bias` where its converter
    asks for the older `LayerNorm.gamma`/`.beta` (checkpoints saved by transformers 4.x+), and
    `embeddings.*` where it asks for `bert.embeddings.*` (a `BertModel`, saved without the
    task model's `bert.` prefix)."""

    def __init__(self, path: str):
        from keras_hub.src.utils.transformers.safetensor_utils import SafetensorLoader

        self._loader = SafetensorLoader(path)
        self.skipped = []

    def __enter__(self):
        self._loader.__enter__()
        return self

    def __exit__(self, *exc):
        return self._loader.__exit__(*exc)

    def get_tensor(self, key: str):
        from safetensors import SafetensorError

        renamed = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace(
            "LayerNorm.beta", "LayerNorm.bias")
        candidates = dict.fromkeys([key, renamed, key.removeprefix("bert."),
                                    renamed.removeprefix("bert.")])
        for candidate in candidates:
            try:
                return self._loader.get_tensor(candidate)
            except SafetensorError:
                error = SafetensorError(f"{self._loader.preset}: no tensor {key} (nor "
                                        f"{', '.join(list(candidates)[1:])})")
        raise error

    def has(self, key: str) -> bool:
        from safetensors import SafetensorError

        try:
            self.get_tensor(key)
            return True
        except SafetensorError:
            return False

    def port_weight(self, keras_variable, hf_weight_key, hook_fn=None):
        if "pooler." in hf_weight_key and not self.has(hf_weight_key):
            self.skipped.append(hf_weight_key)  # BertForMaskedLM has no pooler: keep it random
            return
        tensor = self.get_tensor(hf_weight_key)
        if hook_fn:
            tensor = hook_fn(tensor, list(keras_variable.shape))
        keras_variable.assign(tensor)


def _huggingface_masked_lm(ckpt: Checkpoint, dropout: float, dtype):
    from keras_hub.src.utils.transformers import convert_bert

    from models.backbone import BertEncoder
    from models.masked_lm import masked_lm_on

    config = _read_json(os.path.join(ckpt.path, "config.json"))
    backbone = BertEncoder(
        **convert_bert.convert_backbone_config(config), dropout=dropout,
        max_sequence_length=ckpt.max_sequence_length,
        num_segments=int(config.get("type_vocab_size", 2)), dtype=dtype,
        exact_gelu=_GELU[config.get("hidden_act", "gelu")])
    model = masked_lm_on(backbone, float(config.get("layer_norm_eps", 1e-12)))
    with _SafetensorLoader(ckpt.path) as loader:
        convert_bert.convert_weights(backbone, loader, config)
        head = model.get_layer("mlm_head")
        prefix = "cls.predictions."
        if loader.has(prefix + "bias"):
            loader.port_weight(head._intermediate_dense.kernel, prefix + "transform.dense.weight",
                               lambda t, _: np.transpose(t))
            loader.port_weight(head._intermediate_dense.bias, prefix + "transform.dense.bias")
            loader.port_weight(head._intermediate_layer_norm.gamma,
                               prefix + "transform.LayerNorm.gamma")
            loader.port_weight(head._intermediate_layer_norm.beta,
                               prefix + "transform.LayerNorm.beta")
            loader.port_weight(head._bias, prefix + "bias")
            model.pretrained_head = True
    if loader.skipped:
        logging.info("%s has no %s: those weights start random (unused by the MLM).",
                     ckpt.path, ", ".join(loader.skipped))
    return model


def load_masked_lm(ckpt: Checkpoint, dropout: float = 0.1, dtype: Optional[str] = None):
    """The checkpoint as lmpipe's masked-LM model (models/masked_lm.py). The MLM head has the
    checkpoint's weights when it has some (`model.pretrained_head`); otherwise it starts from
    random weights, as keras-hub's BertMaskedLM does on a backbone-only preset."""
    import keras_hub

    from models.masked_lm import masked_lm_on

    if ckpt.format == HUGGINGFACE:
        return _huggingface_masked_lm(ckpt, dropout, dtype)
    preset = encoder.encoder_dir(ckpt.path) if ckpt.format == LMPIPE else ckpt.path
    kwargs = {"dtype": dtype} if dtype else {}
    backbone = keras_hub.models.BertBackbone.from_preset(preset, dropout=dropout, **kwargs)
    head_weights = os.path.join(preset, MLM_HEAD_WEIGHTS)
    if ckpt.format == KERAS_HUB and _is_masked_lm_task(preset):
        # A BertMaskedLM preset (task.json): its head, with its layer-norm epsilon.
        task_head = keras_hub.models.BertMaskedLM.from_preset(preset).masked_lm_head
        model = masked_lm_on(backbone, task_head.layer_norm_epsilon)
        model.get_layer("mlm_head").set_weights(task_head.get_weights())
        model.pretrained_head = True
    elif os.path.isfile(head_weights):
        with np.load(head_weights) as saved:
            model = masked_lm_on(backbone, float(saved["layer_norm_epsilon"]))
            model.get_layer("mlm_head").set_weights(
                [saved[f"w{i}"] for i in range(len(saved.files) - 1)])
        model.pretrained_head = True
    else:
        model = masked_lm_on(backbone)
    return model


def _is_masked_lm_task(preset: str) -> bool:
    task = os.path.join(preset, "task.json")
    return os.path.isfile(task) and _read_json(task).get("class_name", "").endswith("BertMaskedLM")


def save_mlm_head(model, encoder_dir: str) -> str:
    """The MLM head's weights beside a saved encoder, so that pretraining can go on from both."""
    path = os.path.join(encoder_dir, MLM_HEAD_WEIGHTS)
    head = model.get_layer("mlm_head")
    with open(path, "wb") as f:
        np.savez(f, layer_norm_epsilon=head.layer_norm_epsilon,
                 **{f"w{i}": w for i, w in enumerate(head.get_weights())})
    return path


def save_model(model, vocab_file: str, tokenizer: TokenizerSettings, model_dir: str,
               seq_length: int, max_predictions: int, top_k: int, model_name: str) -> str:
    """Writes a masked-LM model as lmpipe's model directory: `Format-Serving/` (the fill-mask
    SavedModel, models/export.py) and `encoder/` (encoder, MLM head, vocabulary, tokenizer
    settings), as a pretraining run's Trainer does."""
    from models import export
    from models.preprocessing import TokenizeOnly
    from models.tokenization import Tokenizer

    vocab = read_vocab(vocab_file)
    preprocessing = TokenizeOnly(Tokenizer(vocab, tokenizer, where=vocab_file), seq_length)
    export.export_masked_lm(model, preprocessing, os.path.join(model_dir, encoder.SERVING_DIR),
                            vocab, seq_length, max_predictions, top_k, model_name)
    saved = encoder.save_encoder(model.backbone, model_dir, vocab_file, tokenizer)
    if model.pretrained_head:
        save_mlm_head(model, saved)
    return model_dir
