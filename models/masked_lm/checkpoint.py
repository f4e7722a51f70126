"""A checkpoint (models/checkpoints/) as lmpipe's masked-LM model, with its MLM head when it has
one, and the masked-LM model written as lmpipe's model directory.

Example:

>>> from models import checkpoints
>>> model = load_masked_lm(checkpoints.inspect("tests/data/bert_parity/checkpoint"))
>>> model.backbone.num_layers, model.get_layer("mlm_head").vocabulary_size
(2, 2925)
"""

import os
import re
from typing import Optional, Sequence

import numpy as np
from absl import logging

from models.checkpoints.checks import HUGGINGFACE, KERAS_HUB, LMPIPE, Checkpoint, read_json
from models.checkpoints.huggingface import (GELU, SafetensorLoader, config_with_defaults, converter,
                                            new_backbone)
from models.core import encoder
from models.tokenizers.wordpiece import TokenizerSettings

MLM_HEAD_WEIGHTS = "mlm_head.npz"  # beside a saved encoder (models/core/encoder.py)


def _huggingface_masked_lm(ckpt: Checkpoint, dropout: float, dtype):
    from models.masked_lm.model import masked_lm_on

    config = config_with_defaults(ckpt)
    backbone = new_backbone(ckpt, config, dropout, dtype)
    if config["model_type"] == "distilbert":
        return _distilbert_masked_lm(ckpt, config, backbone)
    exact_gelu = GELU[config["hidden_act"]]
    model = masked_lm_on(backbone, float(config["layer_norm_eps"]))
    _set_head_gelu(model, exact_gelu)  # Hugging Face's head transform uses hidden_act too
    with SafetensorLoader(ckpt.weights_dir) as loader:
        converter(config).convert_weights(backbone, loader, config)
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


def _distilbert_masked_lm(ckpt: Checkpoint, config: dict, backbone):
    """DistilBertForMaskedLM (transformers' modeling_distilbert.py) on lmpipe's MLM model: its
    head is BERT's layout, `vocab_transform` (dense), GELU, `vocab_layer_norm` (epsilon 1e-12),
    `vocab_projector` tied to the token embeddings plus its bias."""
    from models.masked_lm.model import masked_lm_on

    model = masked_lm_on(backbone, 1e-12)
    with SafetensorLoader(ckpt.weights_dir) as loader:
        converter(config).convert_weights(backbone, loader, config)
        if loader.has("vocab_projector.bias"):
            head = model.get_layer("mlm_head")
            loader.port_weight(head._intermediate_dense.kernel, "vocab_transform.weight",
                               lambda t, _: np.transpose(t))
            loader.port_weight(head._intermediate_dense.bias, "vocab_transform.bias")
            loader.port_weight(head._intermediate_layer_norm.gamma, "vocab_layer_norm.weight")
            loader.port_weight(head._intermediate_layer_norm.beta, "vocab_layer_norm.bias")
            loader.port_weight(head._bias, "vocab_projector.bias")
            model.pretrained_head = True
    return model


def _set_head_gelu(model, exact: bool) -> None:
    """The MLM head's GELU: masked_lm_on's is the exact one; the tanh approximation for a
    checkpoint whose hidden_act is one (Hugging Face's BertPredictionHeadTransform uses it)."""
    from keras_hub.src.utils.keras_utils import gelu_approximate

    if not exact:
        model.get_layer("mlm_head")._intermediate_dense.activation = gelu_approximate


def _head_exact_gelu(model) -> bool:
    from keras_hub.src.utils.keras_utils import gelu_approximate

    return model.get_layer("mlm_head")._intermediate_dense.activation is not gelu_approximate


def load_masked_lm(ckpt: Checkpoint, dropout: float = 0.1, dtype: Optional[str] = None):
    """The checkpoint as lmpipe's masked-LM model (models/masked_lm/model.py). The MLM head has the
    checkpoint's weights when it has some (`model.pretrained_head`); otherwise it starts from
    random weights, as keras-hub's BertMaskedLM does on a backbone-only preset."""
    import keras_hub

    from models.masked_lm.model import masked_lm_on

    if ckpt.format == HUGGINGFACE:
        return _huggingface_masked_lm(ckpt, dropout, dtype)
    preset = encoder.encoder_dir(ckpt.path) if ckpt.format == LMPIPE else ckpt.path
    kwargs = {"dtype": dtype} if dtype else {}
    backbone = keras_hub.models.Backbone.from_preset(preset, dropout=dropout, **kwargs)
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
            weights = sum(re.fullmatch(r"w\d+", name) is not None for name in saved.files)
            model.get_layer("mlm_head").set_weights([saved[f"w{i}"] for i in range(weights)])
            if "exact_gelu" in saved.files:  # written since the head honours hidden_act
                _set_head_gelu(model, bool(saved["exact_gelu"]))
        model.pretrained_head = True
    else:
        model = masked_lm_on(backbone)
    return model


def _is_masked_lm_task(preset: str) -> bool:
    task = os.path.join(preset, "task.json")
    return os.path.isfile(task) and read_json(task).get("class_name", "").endswith("BertMaskedLM")


def save_mlm_head(model, encoder_dir: str) -> str:
    """The MLM head's weights beside a saved encoder, so that pretraining can go on from both."""
    path = os.path.join(encoder_dir, MLM_HEAD_WEIGHTS)
    head = model.get_layer("mlm_head")
    with open(path, "wb") as f:
        np.savez(f, layer_norm_epsilon=head.layer_norm_epsilon, exact_gelu=_head_exact_gelu(model),
                 **{f"w{i}": w for i, w in enumerate(head.get_weights())})
    return path


def save_masked_lm(model, vocab: Sequence[str], tokenizer: TokenizerSettings, model_dir: str,
                   seq_length: int, max_predictions: int, top_k: int, model_name: str,
                   where: str = "the checkpoint's vocabulary") -> str:
    """Writes a masked-LM model as lmpipe's model directory: `Format-Serving/` (the fill-mask
    SavedModel, models/core/export.py) and `encoder/` (encoder, MLM head, `vocab.txt` of `vocab`,
    tokenizer settings), as a pretraining run's Trainer does."""
    from models.masked_lm.export import export_masked_lm
    from models.masked_lm.preprocessing import TokenizeOnly
    from models.tokenizers.wordpiece import Tokenizer

    vocab = list(vocab)
    preprocessing = TokenizeOnly(Tokenizer(vocab, tokenizer, where=where), seq_length)
    export_masked_lm(model, preprocessing, os.path.join(model_dir, encoder.SERVING_DIR),
                     vocab, seq_length, max_predictions, top_k, model_name)
    saved = encoder.save_encoder(model.backbone, model_dir, vocab, tokenizer)
    if model.pretrained_head:
        save_mlm_head(model, saved)
    return model_dir
