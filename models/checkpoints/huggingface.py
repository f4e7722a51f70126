"""BERT and DistilBERT checkpoints from elsewhere, read into lmpipe's models and tokenizer.

Three formats, told apart by their files:

- **Hugging Face** (`config.json` with `"model_type": "bert"` or `"distilbert"`,
  `model.safetensors`, `vocab.txt` and `tokenizer_config.json` and/or `tokenizer.json`): the
  weights through keras-hub's own converters (`keras_hub/src/utils/transformers/convert_bert.py`,
  `convert_distilbert.py`), plus the MLM head (`cls.predictions.*`; DistilBERT's
  `vocab_transform`/`vocab_layer_norm`/`vocab_projector`) when the checkpoint has one, or a
  fine-tuned classifier's head; a sentence-transformers directory holds one;
- **keras-hub preset** (`config.json` naming `BertBackbone`, `model.weights.h5`, and
  `assets/tokenizer/vocabulary.txt` or a `vocab.txt`), as `save_to_preset` writes it;
- **lmpipe** (a model that lmpipe pretrain or import wrote: `encoder/`); pipeline/ finds one
  in a run directory.

Nothing is downloaded: a checkpoint is a local directory. `inspect` reads it exactly or refuses
it before any work (CheckpointError): every config.json field is in one of the tables
`_HONOURED`, `_MUST_EQUAL`, `_IGNORED` (an unknown one is a warning), every tensor is used or
known unused, the vocabulary has each token once, and the tokenizer settings are ones lmpipe
tokenizes as Hugging Face does; what it assumed (no tokenizer settings) or what looks wrong (a
vocabulary whose casing contradicts them) is in `Checkpoint.warnings`.

Example:

>>> ckpt = inspect("tests/data/bert_parity/checkpoint")
>>> ckpt.format, ckpt.vocab_size, ckpt.tokenizer.lowercase, ckpt.warnings
('huggingface', 2925, False, ())
>>> model = load_masked_lm(ckpt)
>>> model.backbone.num_layers, model.get_layer("mlm_head").vocabulary_size
(2, 2925)
"""

import dataclasses
import json
import os
import re
from typing import List, Optional, Sequence, Tuple

import numpy as np
from absl import logging

from models.core import encoder, features
from models.tokenizers.wordpiece import (TOKENIZER_CONFIG_FILE, SpecialIds, TokenizerSettings,
                                 VocabularyError, read_vocab)

HUGGINGFACE, KERAS_HUB, LMPIPE = "huggingface", "keras_hub", "lmpipe"
MLM_HEAD_WEIGHTS = "mlm_head.npz"  # beside a saved encoder (models/core/encoder.py)
CLASSIFIER_HEAD_WEIGHTS = "classifier_head.npz"  # an imported classifier's, beside its encoder
# Hugging Face's names: exact GELU or its tanh approximation (models/core/backbone.py: BertEncoder).
_GELU = {"gelu": True, "gelu_new": False, "gelu_pytorch_tanh": False, "gelu_fast": False}
_KERAS_HUB_VOCAB = os.path.join("assets", "tokenizer", "vocabulary.txt")
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_JSON = "tokenizer.json"
MODULES_JSON = "modules.json"  # a sentence-transformers directory
# Hugging Face model types lmpipe imports, with the architectures (transformers classes) read.
ACCEPTED_MODEL_TYPES = {"bert": ("BertModel", "BertForMaskedLM", "BertForPreTraining",
                                 "BertForSequenceClassification", "BertForTokenClassification"),
                        "distilbert": ("DistilBertModel", "DistilBertForMaskedLM",
                                       "DistilBertForSequenceClassification",
                                       "DistilBertForTokenClassification")}
TEXT_CLASSIFICATION, TOKEN_CLASSIFICATION = "text-classification", "token-classification"
# Tokenizer classes that tokenize as BertTokenizer does (DistilBERT's only drops token_type_ids).
_WORDPIECE_TOKENIZERS = (None, "BertTokenizer", "BertTokenizerFast", "DistilBertTokenizer",
                         "DistilBertTokenizerFast")
# sentence-transformers' Pooling config keys -> lmpipe's --pooling.
_ST_POOLING = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}

# What lmpipe does with each field of a Hugging Face BERT config.json (transformers' BertConfig
# and the PretrainedConfig fields it inherits). A field in none of these tables gets a warning
# that names it; to support a new one, add it to one table.
#
# Transformers' defaults, used where config.json does not give a field (as transformers does).
_BERT_DEFAULTS = {
    "vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "hidden_act": "gelu", "max_position_embeddings": 512,
    "type_vocab_size": 2, "layer_norm_eps": 1e-12, "position_embedding_type": "absolute",
    "tie_word_embeddings": True,
}
# Honoured: the model is built with the checkpoint's value.
_HONOURED = {
    "model_type": "must be 'bert'",
    "vocab_size": "token embeddings; vocab.txt must have as many tokens",
    "hidden_size": "hidden size; a multiple of num_attention_heads",
    "num_hidden_layers": "encoder layers",
    "num_attention_heads": "attention heads",
    "intermediate_size": "feed-forward size",
    "max_position_embeddings": "position embeddings; --seq-length at most this",
    "type_vocab_size": "segment embeddings",
    "hidden_act": f"the encoder's and the MLM head's GELU, one of {', '.join(_GELU)}",
    "tie_word_embeddings": "the MLM head's output weights are the token embeddings (keras-hub's "
                           "MaskedLMHead); false is refused when the checkpoint has a decoder "
                           "weight of its own that differs from them",
}
# Must equal: lmpipe computes as BERT does with this value (or these values); another value is
# refused: (accepted values, why, what to do).
_MUST_EQUAL = {
    "position_embedding_type": (
        ("absolute",), "its encoder (keras-hub's BertBackbone) adds learned absolute "
        "position embeddings; relative-position attention (relative_key, relative_key_query, "
        "with distance_embedding weights) is not implemented, and a model without it computes "
        "something else", "use a BERT checkpoint trained with absolute positions"),
    "layer_norm_eps": (
        (1e-12,), "its encoder (keras-hub's BertBackbone) normalises every layer with a fixed "
        "epsilon of 1e-12",
        "use a checkpoint trained with BERT's 1e-12"),
    "is_decoder": (
        (False,), "a decoder attends causally (each token only to the ones before it); lmpipe's "
        "encoder attends both ways", "use a BERT encoder checkpoint (is_decoder false)"),
    "add_cross_attention": (
        (False,), "cross-attention layers (an encoder-decoder's decoder) are not in lmpipe's "
        "encoder", "use a BERT encoder checkpoint"),
    "is_encoder_decoder": (
        (False,), "lmpipe imports a BERT encoder", "use a BERT encoder checkpoint"),
    "pruned_heads": (
        ({},), "every layer of lmpipe's encoder has num_attention_heads heads",
        "use a checkpoint without pruned heads"),
    "quantization_config": (
        (None,), "lmpipe reads float weights", "use the checkpoint's unquantized weights"),
    "tokenizer_class": (
        _WORDPIECE_TOKENIZERS, "lmpipe tokenizes as BertTokenizer does",
        "use a checkpoint with BERT's WordPiece tokenizer"),
}
# Ignored, because they do not change what the imported model computes.
_IGNORED = dict.fromkeys(
    ["hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout",
     "initializer_range", "gradient_checkpointing"],
    "training only (lmpipe's dropout is its own setting)")
_IGNORED.update(dict.fromkeys(
    ["architectures", "transformers_version", "_name_or_path", "name_or_path", "_commit_hash"],
    "informational"))
_IGNORED.update(dict.fromkeys(
    ["dtype", "torch_dtype", "use_bfloat16"],
    "the weights are read as stored and computed in float32 (or --mixed-precision)"))
_IGNORED.update(dict.fromkeys(
    ["id2label", "label2id", "num_labels", "problem_type", "finetuning_task"],
    "a classifier head's; lmpipe finetune trains its own"))
_IGNORED.update(dict.fromkeys(
    ["pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "decoder_start_token_id"],
    "the ids come from vocab.txt; pad_token_id only keeps the padding embedding from training"))
_IGNORED.update(dict.fromkeys(
    ["chunk_size_feed_forward", "attn_implementation", "_attn_implementation",
     "_attn_implementation_autoset", "use_cache", "output_attentions", "output_hidden_states",
     "return_dict", "torchscript", "output_past", "tf_legacy_loss"],
    "speed, caching or output format only"))
_IGNORED.update(dict.fromkeys(
    ["cross_attention_hidden_size", "tie_encoder_decoder"],
    "used only with cross-attention (refused)"))
_IGNORED.update(dict.fromkeys(
    ["directionality", "pooler_fc_size", "pooler_num_attention_heads", "pooler_num_fc_layers",
     "pooler_size_per_head", "pooler_type"],
    "old Google configs' fields, which transformers ignores too"))
_IGNORED.update(dict.fromkeys(
    ["max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups",
     "diversity_penalty", "temperature", "top_k", "top_p", "typical_p", "repetition_penalty",
     "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
     "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
     "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty",
     "suppress_tokens", "begin_suppress_tokens", "task_specific_params", "prefix"],
    "text generation settings, unused by a masked LM"))

# The same tables for DistilBERT (transformers' DistilBertConfig): its own names for the sizes,
# and what PretrainedConfig gives every model, as for BERT.
_DISTILBERT_DEFAULTS = {
    "vocab_size": 30522, "dim": 768, "n_layers": 6, "n_heads": 12, "hidden_dim": 3072,
    "activation": "gelu", "max_position_embeddings": 512, "tie_word_embeddings": True,
}
_DISTILBERT_HONOURED = {
    "model_type": "must be 'distilbert'",
    "vocab_size": "token embeddings; the vocabulary must have as many tokens",
    "dim": "hidden size; a multiple of n_heads",
    "n_layers": "encoder layers",
    "n_heads": "attention heads",
    "hidden_dim": "feed-forward size",
    "max_position_embeddings": "position embeddings; --seq-length at most this",
    "tie_word_embeddings": _HONOURED["tie_word_embeddings"],
}
_DISTILBERT_MUST_EQUAL = {
    "activation": (
        ("gelu",), "keras-hub's DistilBertBackbone uses the exact GELU in every layer",
        "use a DistilBERT checkpoint trained with activation gelu"),
    **{field: _MUST_EQUAL[field] for field in (
        "is_decoder", "add_cross_attention", "is_encoder_decoder", "pruned_heads",
        "quantization_config", "tokenizer_class")},
}
_DISTILBERT_IGNORED = {
    **{field: why for field, why in _IGNORED.items() if field not in _HONOURED},
    **dict.fromkeys(["dropout", "attention_dropout", "qa_dropout", "seq_classif_dropout"],
                    "training only (lmpipe's dropout is its own setting)"),
    "sinusoidal_pos_embds": "the position embeddings are read as stored (fixed sinusoids or "
                            "learned); fine-tuning trains them either way",
    "tie_weights_": "older name of tie_word_embeddings",
}
for _field in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
    _DISTILBERT_IGNORED.pop(_field)


@dataclasses.dataclass(frozen=True)
class _Architecture:
    """What differs between the Hugging Face model types lmpipe imports: config.json's tables
    and field names, and the tensor names of model.safetensors (by their name without the
    task model's prefix, `bert.` or `distilbert.`)."""

    prefix: str
    defaults: dict
    honoured: dict
    must_equal: dict
    ignored: dict
    sizes: Tuple[str, ...]  # positive integers: vocab, hidden, layers, heads, ...
    hidden: str
    layers: str
    heads: str
    classifier: str  # the transformers class of a fine-tuned classifier
    classifier_head: Tuple[str, ...]  # its tensors besides the encoder's
    tagger: str  # the transformers class of a fine-tuned token classifier (head: classifier.*)
    not_used: Tuple[Tuple[str, str], ...]
    decoder: str  # an MLM decoder weight: used only as the (tied) token embeddings
    mlm_head: Tuple[str, ...]  # the MLM head's tensors (all or none)

    def required(self, num_layers: int) -> set:
        if self.prefix == "bert.":
            names = {f"embeddings.{n}" for n in (
                "word_embeddings.weight", "position_embeddings.weight",
                "token_type_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias")}
            layer = ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense", "intermediate.dense", "output.dense",
                     "attention.output.LayerNorm", "output.LayerNorm")
            return names | {f"encoder.layer.{i}.{d}.{w}" for i in range(num_layers)
                             for d in layer for w in ("weight", "bias")}
        names = {f"embeddings.{n}" for n in ("word_embeddings.weight", "position_embeddings.weight",
                                             "LayerNorm.weight", "LayerNorm.bias")}
        layer = ("attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin",
                 "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm")
        return names | {f"transformer.layer.{i}.{d}.{w}" for i in range(num_layers)
                         for d in layer for w in ("weight", "bias")}

    def optional(self) -> set:
        return set(self.mlm_head) | ({"pooler.dense.weight", "pooler.dense.bias"}
                                     if self.prefix == "bert." else set())

    def canonical(self, name: str) -> str:
        name = name.removeprefix(self.prefix)
        return name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta",
                                                                           "LayerNorm.bias")


# Tensors of model.safetensors, by their name without `bert.` and with `LayerNorm.gamma/beta`
# as `.weight/.bias`: the ones keras-hub's converter reads (_used_tensors), and the ones that
# lmpipe knows it does not need (logged); any other is refused.
_NOT_USED = [
    (r"cls\.seq_relationship\..*", "the next-sentence-prediction head"),
    (r"(.*\.)?(position_ids|token_type_ids)", "a buffer of ids, not weights"),
    (r"classifier\..*", "a classification head (lmpipe finetune trains its own)"),
    (r"cls\.predictions\.decoder\.bias", "the same tensor as cls.predictions.bias"),
]
_EMBEDDINGS = "embeddings.word_embeddings.weight"
_BERT = _Architecture(
    prefix="bert.", defaults=_BERT_DEFAULTS, honoured=_HONOURED, must_equal=_MUST_EQUAL,
    ignored=_IGNORED,
    sizes=("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
           "intermediate_size", "max_position_embeddings", "type_vocab_size"),
    hidden="hidden_size", layers="num_hidden_layers", heads="num_attention_heads",
    classifier="BertForSequenceClassification",
    classifier_head=("pooler.dense.weight", "classifier.weight", "classifier.bias"),
    tagger="BertForTokenClassification",
    not_used=tuple(_NOT_USED), decoder="cls.predictions.decoder.weight",
    mlm_head=("cls.predictions.bias", "cls.predictions.transform.dense.weight",
              "cls.predictions.transform.dense.bias", "cls.predictions.transform.LayerNorm.weight",
              "cls.predictions.transform.LayerNorm.bias"))
_DISTILBERT = _Architecture(
    prefix="distilbert.", defaults=_DISTILBERT_DEFAULTS, honoured=_DISTILBERT_HONOURED,
    must_equal=_DISTILBERT_MUST_EQUAL, ignored=_DISTILBERT_IGNORED,
    sizes=("vocab_size", "dim", "n_layers", "n_heads", "hidden_dim", "max_position_embeddings"),
    hidden="dim", layers="n_layers", heads="n_heads",
    classifier="DistilBertForSequenceClassification",
    classifier_head=("pre_classifier.weight", "pre_classifier.bias", "classifier.weight",
                     "classifier.bias"),
    tagger="DistilBertForTokenClassification",
    not_used=((r"(.*\.)?position_ids", "a buffer of ids, not weights"),
              (r"(pre_)?classifier\..*", "a classification head (lmpipe finetune trains its own)")),
    decoder="vocab_projector.weight",
    mlm_head=("vocab_transform.weight", "vocab_transform.bias", "vocab_layer_norm.weight",
              "vocab_layer_norm.bias", "vocab_projector.bias"))
_ARCHITECTURES = {"bert": _BERT, "distilbert": _DISTILBERT}


def _architecture(config: dict) -> _Architecture:
    return _ARCHITECTURES[config.get("model_type", "bert")]
_SHOWN = 5  # names in a message

# Tokenizer settings lmpipe cannot honour: BERT's special tokens by their names only.
_SPECIAL_TOKEN_KEYS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]",
                       "sep_token": "[SEP]", "mask_token": "[MASK]"}
_SPECIAL_TOKENS = set(_SPECIAL_TOKEN_KEYS.values())
_ASSUMED_UNCASED = (
    "assumed uncased with accents stripped (BertTokenizer's default, do_lower_case true); if the "
    f"model is cased, write {TOKENIZER_CONFIG_FILE} with {{\"do_lower_case\": false}} beside "
    "vocab.txt")


class CheckpointError(ValueError):
    """A directory is not a checkpoint lmpipe can read; the message says what it expected."""


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """What `inspect` found. `vocab_file` is where the vocabulary was read (vocab.txt, or
    tokenizer.json's model.vocab when a checkpoint saved by transformers 5 has no vocab.txt);
    `vocab` is it, id order. `model_dir` holds config.json and the weights: `path` itself, or a
    sentence-transformers directory's transformer module (e.g. `0_Transformer/`), whose pooling
    (`pooling`: "mean" or "cls") is the default `--pooling` when fine-tuning from it."""

    path: str
    format: str
    vocab_file: str
    vocab_size: int
    tokenizer: TokenizerSettings
    max_sequence_length: int  # position embeddings
    warnings: tuple = ()  # what was assumed or looks wrong, for the user (not refused)
    vocab: tuple = ()
    model_dir: str = ""
    pooling: Optional[str] = None  # a sentence-transformers checkpoint's pooling
    # A fine-tuned text classifier (BertForSequenceClassification) or token classifier
    # (BertForTokenClassification; `task` says which): its class names in id order (config.json
    # id2label); its head's weights are imported with it.
    classes: tuple = ()
    task: str = ""  # TEXT_CLASSIFICATION or TOKEN_CLASSIFICATION with classes

    @property
    def weights_dir(self) -> str:
        return self.model_dir or self.path


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
        return _inspect_lmpipe(path)
    if os.path.isfile(os.path.join(path, MODULES_JSON)):
        return _inspect_sentence_transformers(path)
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


def vocab_from_tokenizer_json(json_file: str) -> List[str]:
    """The WordPiece vocabulary of a Hugging Face `tokenizer.json` (its `model.vocab`, token ->
    id), in id order. Raises CheckpointError for a tokenizer that is not WordPiece (naming its
    type: BPE, Unigram, WordLevel), an [UNK] other than BERT's, or ids that are not 0..n-1 each
    once."""
    model = _read_json(json_file).get("model") or {}
    kind = model.get("type")
    if kind != "WordPiece":
        raise CheckpointError(
            f"{json_file}: the tokenizer's model is {kind or 'missing'}{'' if kind else ' (no model.type)'}, "
            "not WordPiece: lmpipe imports BERT-style checkpoints, which tokenize with WordPiece "
            "(a BPE tokenizer belongs to GPT-2/RoBERTa-style models, a Unigram one to "
            "ALBERT/T5-style models).")
    if model.get("unk_token", features.UNK) != features.UNK:
        raise CheckpointError(f"{json_file}: model.unk_token {model['unk_token']!r} is not "
                              f"supported: lmpipe's unknown token is {features.UNK}.")
    ids = model.get("vocab") or {}
    by_id = {}
    for token, i in ids.items():
        if i in by_id:
            raise CheckpointError(f"{json_file}: model.vocab gives id {i} to both {by_id[i]!r} "
                                  f"and {token!r}; every id must name one token.")
        by_id[i] = token
    if sorted(by_id) != list(range(len(by_id))):
        missing = next(i for i in range(len(by_id) + 1) if i not in by_id)
        raise CheckpointError(f"{json_file}: model.vocab's ids are not 0..{len(by_id) - 1} "
                              f"(id {missing} is missing): the vocabulary cannot be read in id "
                              "order.")
    return [by_id[i] for i in range(len(by_id))]


def _check_vocab(vocab_file: str, embeddings: int) -> List[str]:
    if os.path.basename(vocab_file) == TOKENIZER_JSON:
        vocab = vocab_from_tokenizer_json(vocab_file)
    else:
        vocab = read_vocab(vocab_file)  # VocabularyError: a duplicate token
    if len(vocab) != embeddings:
        raise CheckpointError(
            f"{vocab_file} has {len(vocab)} tokens but the model has {embeddings} token "
            "embeddings: the vocabulary must be the one the checkpoint was trained with.")
    SpecialIds.of(vocab, where=vocab_file)
    return vocab


def _check_config(config_file: str, config: dict) -> List[str]:
    """Refuses a config.json field that lmpipe cannot honour; returns warnings for fields it
    does not know."""
    arch = _architecture(config)
    unknown = []
    for field, value in config.items():
        if field in arch.must_equal:
            accepted, why, what_to_do = arch.must_equal[field]
            if not any(value == a and type(value) is type(a) or
                       (isinstance(a, float) and isinstance(value, (int, float)) and value == a)
                       for a in accepted):
                said = " or ".join(json.dumps(a) for a in accepted)
                raise CheckpointError(
                    f"{config_file}: {field} {json.dumps(value)} is not supported: lmpipe "
                    f"supports only {said}: {why}; {what_to_do}.")
        elif field not in arch.honoured and field not in arch.ignored:
            unknown.append(field)
    config = {**arch.defaults, **config}
    if arch is _BERT and config["hidden_act"] not in _GELU:
        raise CheckpointError(f"{config_file}: hidden_act {json.dumps(config['hidden_act'])} is "
                              f"not supported: lmpipe supports {', '.join(_GELU)}; use a BERT "
                              "checkpoint with a GELU activation.")
    for field in arch.sizes:
        if not isinstance(config[field], int) or isinstance(config[field], bool) or config[field] < 1:
            raise CheckpointError(f"{config_file}: {field} {json.dumps(config[field])} is not a "
                                  "positive integer.")
    if config[arch.hidden] % config[arch.heads]:
        raise CheckpointError(
            f"{config_file}: {arch.hidden} {config[arch.hidden]} is not a multiple of "
            f"{arch.heads} {config[arch.heads]}: each head has {arch.hidden} / {arch.heads} "
            "dimensions; the config is not the model's.")
    if unknown:
        return [f"{config_file}: lmpipe does not know the field{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)} (ignored); if {'they change' if len(unknown) > 1 else 'it changes'} "
                "what the model computes, the imported model differs from the checkpoint."]
    return []


def _shape(tensors, name: str) -> Optional[Tuple[int, ...]]:
    return tuple(tensors.get_slice(name).get_shape()) if name else None


def _check_weights(path: str, config: dict) -> None:
    """Refuses weights lmpipe would not read or would read into the wrong shape (from the
    names and shapes in the file's header; only a separate MLM decoder weight is read).
    `config`: config.json with its architecture's defaults."""
    from safetensors import safe_open

    arch = _architecture(config)
    weights_file = os.path.join(path, WEIGHTS_FILE)
    config_file = os.path.join(path, "config.json")
    try:
        tensors = safe_open(weights_file, "np")
    except Exception as e:  # noqa: BLE001  (SafetensorError, OSError: the file is not readable)
        raise CheckpointError(f"{weights_file} is not a readable safetensors file: {e}") from None
    names = {}
    for name in tensors.keys():
        names.setdefault(arch.canonical(name), name)
    required, optional = arch.required(config[arch.layers]), arch.optional()
    missing = sorted(required - set(names))
    kind = config["model_type"].replace("distilbert", "DistilBERT").replace("bert", "BERT")
    if missing:
        raise CheckpointError(
            f"{weights_file} lacks {len(missing)} tensor{'s' if len(missing) > 1 else ''} of a "
            f"{kind} with config.json's {config[arch.layers]} layers: "
            f"{', '.join(missing[:_SHOWN])}{' ...' if len(missing) > _SHOWN else ''}; the "
            "weights and config.json must be the same model's.")
    present = set(arch.mlm_head) & set(names)
    if present and present != set(arch.mlm_head):
        raise CheckpointError(
            f"{weights_file} has {', '.join(sorted(present))} but not "
            f"{', '.join(sorted(set(arch.mlm_head) - present))}: an incomplete MLM head.")
    hidden = config[arch.hidden]
    shapes = [(_EMBEDDINGS, (config["vocab_size"], hidden), f"vocab_size, {arch.hidden}"),
              ("embeddings.position_embeddings.weight", (config["max_position_embeddings"], hidden),
               f"max_position_embeddings, {arch.hidden}")]
    if arch is _BERT:
        shapes.append(("embeddings.token_type_embeddings.weight",
                       (config["type_vocab_size"], hidden), "type_vocab_size, hidden_size"))
    for name, want, fields in shapes:
        shape = _shape(tensors, names[name])
        if shape != want:
            raise CheckpointError(
                f"{weights_file}: {names[name]} has shape {list(shape)} but {config_file} says "
                f"{list(want)} ({fields}); the weights and config.json must be the same model's.")
    not_used, unknown = [], []
    for canonical, name in sorted(names.items()):
        if canonical in required or canonical in optional:
            continue
        why = next((why for pattern, why in arch.not_used if re.fullmatch(pattern, canonical)),
                   None)
        if canonical == arch.decoder:
            why = _decoder_is_tied(tensors, name, names[_EMBEDDINGS], config, weights_file)
        if why:
            not_used.append(f"{name} ({why})")
        else:
            unknown.append(name)
    if unknown:
        raise CheckpointError(
            f"{weights_file} has {len(unknown)} tensor{'s' if len(unknown) > 1 else ''} that "
            f"lmpipe's converter would not use: {', '.join(unknown[:_SHOWN])}"
            f"{f' (and {len(unknown) - _SHOWN} more)' if len(unknown) > _SHOWN else ''}. A model "
            "without them computes something else than the checkpoint; lmpipe imports "
            f"{kind}'s own weights ({', '.join(ACCEPTED_MODEL_TYPES[config['model_type']])}): "
            "use such a checkpoint.")
    if not_used:
        logging.info("%s: not used: %s.", weights_file, "; ".join(not_used))


def _task(config: dict) -> str:
    """TEXT_CLASSIFICATION or TOKEN_CLASSIFICATION for a fine-tuned classifier's config.json,
    "" for any other checkpoint."""
    arch, architectures = _architecture(config), config.get("architectures") or []
    return (TEXT_CLASSIFICATION if arch.classifier in architectures else
            TOKEN_CLASSIFICATION if arch.tagger in architectures else "")


def _classifier_classes(path: str, config: dict) -> Tuple[str, ...]:
    """The class names, in id order, of a fine-tuned BertForSequenceClassification or
    DistilBertForSequenceClassification, or of a Bert/DistilBertForTokenClassification (() for
    any other checkpoint). Raises CheckpointError
    for a classifier lmpipe cannot serve as transformers' text-classification pipeline does:
    not single-label (multi-label scores are sigmoids, regression has one output), id2label not
    ids 0..n-1 or with a name twice, a classifier weight with another number of rows than
    id2label, or no pooler (BERT) / pre_classifier (DistilBERT)."""
    arch, task = _architecture(config), _task(config)
    if not task:
        return ()
    from safetensors import safe_open

    config_file = os.path.join(path, "config.json")
    problem = config.get("problem_type")
    if problem not in (None, "single_label_classification"):
        raise CheckpointError(f"{config_file}: problem_type {problem!r} is not supported: lmpipe "
                              "serves single-label classifiers (softmax over the classes).")
    id2label = {str(k): str(v) for k, v in (config.get("id2label") or {}).items()}
    if sorted(id2label, key=lambda k: (len(k), k)) != [str(i) for i in range(len(id2label))]:
        raise CheckpointError(f"{config_file}: id2label keys {sorted(id2label)} are not the ids "
                              f"0..{len(id2label) - 1}; say every class's name by its id.")
    classes = tuple(id2label[str(i)] for i in range(len(id2label)))
    twice = sorted({c for c in classes if classes.count(c) > 1})
    if twice:
        raise CheckpointError(f"{config_file}: id2label names {twice} for more than one id; "
                              "every class needs its own name.")
    with safe_open(os.path.join(path, WEIGHTS_FILE), "np") as tensors:
        names = {arch.canonical(n): n for n in tensors.keys()}
        head = (arch.classifier_head if task == TEXT_CLASSIFICATION
                else ("classifier.weight", "classifier.bias"))
        missing = [n for n in head if n not in names]
        if missing:
            raise CheckpointError(f"{path}/{WEIGHTS_FILE} has no {', '.join(missing)}, which "
                                  f"{config_file}'s "
                                  f"{arch.classifier if task == TEXT_CLASSIFICATION else arch.tagger}"
                                  " scores with.")
        rows = _shape(tensors, names["classifier.weight"])[0]
    if rows != len(classes) or len(classes) < 2:
        raise CheckpointError(
            f"{config_file}: id2label names {len(classes)} classes ({', '.join(classes)}) but "
            f"{WEIGHTS_FILE}'s classifier.weight scores {rows}; the config and the weights must be "
            "the same model's (a single-output regression head is not a classifier).")
    return classes


def _decoder_is_tied(tensors, name: str, embeddings: str, config: dict,
                     weights_file: str) -> str:
    if config["tie_word_embeddings"]:
        return "tied to the token embeddings (tie_word_embeddings), as in Hugging Face"
    if np.array_equal(tensors.get_tensor(name), tensors.get_tensor(embeddings)):
        return "the same as the token embeddings"
    raise CheckpointError(
        f"{os.path.join(os.path.dirname(weights_file), 'config.json')}: tie_word_embeddings false, "
        f"and {weights_file} has its own {name}, which differs from the token embeddings "
        f"({embeddings}): lmpipe supports only tie_word_embeddings true (its MLM head, keras-hub's "
        "MaskedLMHead, scores with the token embeddings), so its fill-mask answers would differ. "
        f"To use the encoder with a new MLM head, remove the cls.predictions.* tensors from "
        f"{WEIGHTS_FILE}.")


def _special_name(value) -> Optional[str]:
    """A special token as tokenizer_config.json writes it: a string or an AddedToken dict."""
    return value.get("content") if isinstance(value, dict) else value


def _check_tokenizer_config(config_file: str, config: dict) -> None:
    """Refuses tokenizer_config.json settings lmpipe cannot honour, naming the key."""
    def refuse(key, value, why):
        raise CheckpointError(f"{config_file}: {key} {json.dumps(value)} is not supported: {why}.")

    if config.get("do_basic_tokenize") is False:
        refuse("do_basic_tokenize", False, "lmpipe always splits words at whitespace and "
               "punctuation before WordPiece, as BERT does; use do_basic_tokenize true")
    if config.get("tokenize_chinese_chars") is False:
        refuse("tokenize_chinese_chars", False, "lmpipe splits CJK characters as BERT does; use "
               "tokenize_chinese_chars true")
    if config.get("never_split"):
        refuse("never_split", config["never_split"], "lmpipe keeps whole only BERT's special "
               f"tokens ({' '.join(_SPECIAL_TOKENS)}); remove never_split")
    for key, token in _SPECIAL_TOKEN_KEYS.items():
        if key in config and _special_name(config[key]) not in (None, token):
            refuse(key, _special_name(config[key]), f"lmpipe's special tokens are "
                   f"{' '.join(_SPECIAL_TOKEN_KEYS.values())} (this one must be {token}); "
                   "rename it in vocab.txt and here")
    extra = [_special_name(t) for t in config.get("additional_special_tokens") or []]
    extra += [_special_name(t) for t in (config.get("added_tokens_decoder") or {}).values()]
    extra = [t for t in extra if t not in _SPECIAL_TOKENS]
    if extra:
        refuse("additional_special_tokens" if config.get("additional_special_tokens")
               else "added_tokens_decoder", extra[:_SHOWN],
               f"lmpipe matches only {' '.join(_SPECIAL_TOKEN_KEYS.values())} as whole tokens "
               "in text; remove the others")
    cls = config.get("tokenizer_class")
    if cls not in _WORDPIECE_TOKENIZERS:
        refuse("tokenizer_class", cls, "lmpipe tokenizes as BertTokenizer does; use a checkpoint "
               "with BERT's WordPiece tokenizer")


def _check_tokenizer_json(json_file: str, tok: dict, vocab: List[str]) -> Tuple[dict, List[str]]:
    """Refuses a tokenizer.json whose WordPiece model differs from vocab.txt or from BERT's;
    returns its normalizer (when BertNormalizer) and warnings."""
    def refuse(what, why):
        raise CheckpointError(f"{json_file}: {what} is not supported: {why}.")

    warnings = []
    model = tok.get("model") or {}
    if model.get("type", "WordPiece") != "WordPiece":
        refuse(f"model type {model.get('type')!r}", "lmpipe tokenizes with BERT's WordPiece")
    if model.get("continuing_subword_prefix", "##") != "##":
        refuse(f"continuing_subword_prefix {model['continuing_subword_prefix']!r}",
               "lmpipe's word pieces continue with ##")
    if model.get("max_input_chars_per_word", 100) != 100:
        refuse(f"max_input_chars_per_word {model['max_input_chars_per_word']}",
               "lmpipe makes a word of more than 100 characters [UNK], as BERT does")
    if "vocab" in model and model["vocab"] != {t: i for i, t in enumerate(vocab)}:
        ids = {i: t for t, i in model["vocab"].items()}
        first = next((i for i in range(max(len(vocab), len(ids))) if
                      (vocab[i] if i < len(vocab) else None) != ids.get(i)), None)
        refuse("a vocabulary other than vocab.txt's",
               f"its model.vocab has {len(model['vocab'])} tokens, vocab.txt {len(vocab)}; the "
               f"first difference is id {first} ({ids.get(first)!r} vs "
               f"{vocab[first] if first is not None and first < len(vocab) else None!r}); "
               "Hugging Face tokenizes with tokenizer.json's, lmpipe with vocab.txt: they must "
               "be the same")
    extra = [t.get("content") for t in tok.get("added_tokens") or []
             if t.get("content") not in _SPECIAL_TOKENS]
    if extra:
        refuse(f"added_tokens {extra[:_SHOWN]}", f"lmpipe matches only "
               f"{' '.join(_SPECIAL_TOKEN_KEYS.values())} as whole tokens in text; remove the others")
    normalizer = tok.get("normalizer") or {}
    if normalizer and normalizer.get("type") != "BertNormalizer":
        warnings.append(f"{json_file}: normalizer {normalizer.get('type')!r} is not BertNormalizer; "
                        "lmpipe normalizes text as BertNormalizer does (with tokenizer_config.json's "
                        "do_lower_case and strip_accents), which may differ.")
        normalizer = {}
    for key, why in (("clean_text", "lmpipe drops control characters as BERT does"),
                     ("handle_chinese_chars", "lmpipe splits CJK characters as BERT does")):
        if normalizer.get(key) is False:
            refuse(f"normalizer {key} false", why)
    pre = tok.get("pre_tokenizer") or {}
    if pre and pre.get("type") != "BertPreTokenizer":
        warnings.append(f"{json_file}: pre_tokenizer {pre.get('type')!r} is not BertPreTokenizer; "
                        "lmpipe splits words at whitespace and punctuation as BERT does, which "
                        "may differ.")
    return normalizer, warnings


def _huggingface_tokenizer(path: str, vocab: List[str]) -> Tuple[TokenizerSettings, str, List[str]]:
    """The checkpoint's tokenizer settings: tokenizer_config.json's, else tokenizer.json's
    normalizer's, else BertTokenizer's defaults (with a warning); where do_lower_case came
    from; warnings."""
    config_file = os.path.join(path, TOKENIZER_CONFIG_FILE)
    json_file = os.path.join(path, TOKENIZER_JSON)
    config = _read_json(config_file) if os.path.isfile(config_file) else {}
    _check_tokenizer_config(config_file, config)
    normalizer, warnings = {}, []
    if os.path.isfile(json_file):
        normalizer, warnings = _check_tokenizer_json(json_file, _read_json(json_file), vocab)
    said = {}
    for key, norm_key in (("do_lower_case", "lowercase"), ("strip_accents", "strip_accents")):
        if key in config and norm_key in normalizer and config[key] != normalizer[norm_key]:
            raise CheckpointError(
                f"{config_file} says {key} {json.dumps(config[key])} but {json_file} says "
                f"normalizer {norm_key} {json.dumps(normalizer[norm_key])}: the checkpoint's "
                "tokenizer is ambiguous; make the two agree (or remove tokenizer.json).")
        if key in config:
            said[key] = (config[key], f"{TOKENIZER_CONFIG_FILE} {key} {json.dumps(config[key])}")
        elif norm_key in normalizer:
            said[key] = (normalizer[norm_key],
                         f"{TOKENIZER_JSON} normalizer {norm_key} {json.dumps(normalizer[norm_key])}")
    if "do_lower_case" not in said:
        if not config and not normalizer:
            warnings.append(f"{path} has no tokenizer settings (no {TOKENIZER_CONFIG_FILE}, no "
                            f"{TOKENIZER_JSON} normalizer): {_ASSUMED_UNCASED}.")
        said["do_lower_case"] = (True, "assumed")
    settings = TokenizerSettings(lowercase=bool(said["do_lower_case"][0]),
                                 strip_accents=said.get("strip_accents", (None,))[0])
    return settings, said["do_lower_case"][1], warnings


def casing_warnings(vocab: Sequence[str], vocab_file: str, lowercase: bool, source: str) -> List[str]:
    """A warning when the vocabulary's casing contradicts the settings: uncased settings with
    many capitalised word pieces (which lower-cased text never reaches), or cased settings with
    none (a capitalised word becomes [UNK] or smaller pieces). `source`: where the setting came
    from."""
    pieces = [t.removeprefix("##") for t in vocab if not re.fullmatch(r"\[[A-Za-z0-9_]+\]", t)]
    capitalised = [t for t in pieces if any(c.isupper() for c in t)]
    cased_letters = sum(any(c.lower() != c.upper() for c in t) for t in pieces)
    if lowercase and len(capitalised) >= max(10, len(vocab) // 200):
        return [f"{vocab_file} has {len(capitalised):,} capitalised word pieces of "
                f"{len(vocab):,} (e.g. {', '.join(capitalised[:5])}), but the tokenizer is "
                f"uncased ({source}): lower-cased text never reaches them, so the model is "
                f"probably cased; if so, write {TOKENIZER_CONFIG_FILE} with "
                "{\"do_lower_case\": false} beside the vocabulary."]
    if not lowercase and not capitalised and cased_letters >= 10:
        return [f"{vocab_file} has no capitalised word piece among {cased_letters:,} with "
                f"letters, but the tokenizer is cased ({source}): a capitalised word becomes "
                "[UNK] or smaller pieces, so the model is probably uncased; if so, write "
                f"{TOKENIZER_CONFIG_FILE} with {{\"do_lower_case\": true}} beside the vocabulary."]
    return []


def _inspect_huggingface(path: str, config: dict) -> Checkpoint:
    if config["model_type"] not in ACCEPTED_MODEL_TYPES:
        raise CheckpointError(
            f"{path}/config.json: model_type {config['model_type']!r} "
            f"({', '.join(config.get('architectures') or []) or 'no architectures given'}) is "
            "not an architecture lmpipe imports; it imports "
            + "; ".join(f"{t} ({', '.join(a)})" for t, a in ACCEPTED_MODEL_TYPES.items())
            + "; and GPT-2 (gpt2) for generation: `lmpipe import` serves it and `lmpipe "
            "pretrain --objective causal --init-from` continues it. Other architectures "
            "(roberta, xlm-roberta, albert, electra, deberta, ...) have other embeddings, "
            "tokenizers or attention.")
    if not os.path.isfile(os.path.join(path, WEIGHTS_FILE)):
        hint = ("it has only pytorch_model.bin: convert it once with transformers, "
                "`AutoModelForMaskedLM.from_pretrained(d).save_pretrained(d)` (writes safetensors)"
                if os.path.isfile(os.path.join(path, "pytorch_model.bin"))
                else "the weights are not there")
        raise CheckpointError(f"{path}/{WEIGHTS_FILE} is missing: {hint}.")
    warnings = _check_config(os.path.join(path, "config.json"), config)
    config = {**_architecture(config).defaults, **config}
    _check_weights(path, config)
    # vocab.txt, else tokenizer.json (transformers 5 saves only tokenizer.json); with both,
    # _check_tokenizer_json refuses them if they differ.
    vocab_file = os.path.join(path, features.VOCAB_FILE)
    if not os.path.isfile(vocab_file):
        vocab_file = _need(os.path.join(path, TOKENIZER_JSON), "a BERT checkpoint's WordPiece "
                           f"vocabulary: {features.VOCAB_FILE} (one token per line in id order) or "
                           f"{TOKENIZER_JSON} (as transformers saves it), and there is neither")
    vocab = _check_vocab(vocab_file, config["vocab_size"])
    settings, source, tokenizer_warnings = _huggingface_tokenizer(path, vocab)
    warnings += tokenizer_warnings + casing_warnings(vocab, vocab_file, settings.lowercase, source)
    return Checkpoint(path, HUGGINGFACE, vocab_file, len(vocab), settings,
                      int(config["max_position_embeddings"]), tuple(warnings), tuple(vocab), path,
                      classes=_classifier_classes(path, config), task=_task(config))


def _inspect_sentence_transformers(path: str) -> Checkpoint:
    """A sentence-transformers directory: `modules.json` names its Transformer module (at the
    root, path "", or in a subfolder such as `0_Transformer/`), a Hugging Face BERT checkpoint,
    and its Pooling module, whose mode (mean or cls) becomes `pooling`. Other modules
    (Normalize, Dense) act on sentence embeddings, which classification does not use."""
    modules_file = os.path.join(path, MODULES_JSON)
    modules = _read_json(modules_file)
    if not isinstance(modules, list):
        raise CheckpointError(f"{modules_file}: expected a list of modules, as "
                              "sentence-transformers writes it.")
    kinds = {str(m.get("type", "")).rsplit(".", 1)[-1]: m for m in modules if isinstance(m, dict)}
    if "Transformer" not in kinds:
        raise CheckpointError(f"{modules_file} has no sentence_transformers.models.Transformer "
                              f"module (it has {', '.join(kinds) or 'none'}): there is no "
                              "encoder to import.")
    model_dir = os.path.normpath(os.path.join(path, kinds["Transformer"].get("path") or ""))
    config_file = _need(os.path.join(model_dir, "config.json"),
                        f"the Transformer module's config ({modules_file} puts it in "
                        f"{kinds['Transformer'].get('path') or 'the root'})")
    config = _read_json(config_file)
    if "model_type" not in config:
        raise CheckpointError(f"{config_file} has no model_type: not a Hugging Face config.")
    ckpt = _inspect_huggingface(model_dir, config)
    pooling, warnings = None, list(ckpt.warnings)
    if "Pooling" in kinds:
        pooling_file = os.path.join(path, kinds["Pooling"].get("path") or "", "config.json")
        modes = [k for k, v in _read_json(pooling_file).items()
                 if k.startswith("pooling_mode") and v is True] if os.path.isfile(pooling_file) else []
        chosen = [_ST_POOLING[m] for m in modes if m in _ST_POOLING]
        if len(chosen) == 1 and len(modes) == 1:
            pooling = chosen[0]
        else:
            warnings.append(f"{pooling_file}: pooling {', '.join(modes) or 'not given'} is not one "
                            "lmpipe has (mean tokens or cls token): fine-tuning uses --pooling "
                            "as given (default mean).")
    return dataclasses.replace(ckpt, path=path, pooling=pooling, warnings=tuple(warnings))


def _settings_file(path: str, vocab_file: str) -> Optional[str]:
    for directory in (os.path.dirname(vocab_file), path):
        if os.path.isfile(os.path.join(directory, TOKENIZER_CONFIG_FILE)):
            return os.path.join(directory, TOKENIZER_CONFIG_FILE)
    return None


def _inspect_keras_hub(path: str, config: dict) -> Checkpoint:
    if not config["class_name"].endswith("BertBackbone"):
        raise CheckpointError(f"{path} is a keras-hub {config['class_name']} preset; lmpipe "
                              "imports BertBackbone presets.")
    _need(os.path.join(path, "model.weights.h5"), "the preset's weights")
    vocab_file = os.path.join(path, features.VOCAB_FILE)
    if not os.path.isfile(vocab_file):
        vocab_file = _need(os.path.join(path, _KERAS_HUB_VOCAB),
                           f"the preset's vocabulary (or a {features.VOCAB_FILE} beside config.json)")
    backbone = config["config"]
    vocab = _check_vocab(vocab_file, backbone["vocabulary_size"])
    warnings = []
    tokenizer_file = os.path.join(path, TOKENIZER_JSON)
    settings_file = _settings_file(path, vocab_file)
    if os.path.isfile(tokenizer_file):
        lowercase = bool(_read_json(tokenizer_file).get("config", {}).get("lowercase", True))
        source = f"{tokenizer_file} lowercase {json.dumps(lowercase)}"
    elif settings_file:
        settings = _read_json(settings_file)
        _check_tokenizer_config(settings_file, settings)
        lowercase = bool(settings.get("do_lower_case", True))
        source = f"{settings_file} do_lower_case {json.dumps(lowercase)}"
    else:
        lowercase, source = True, "assumed"
        warnings.append(f"{path} has no tokenizer settings (no {TOKENIZER_JSON}, no "
                        f"{TOKENIZER_CONFIG_FILE}): {_ASSUMED_UNCASED}.")
    warnings += casing_warnings(vocab, vocab_file, lowercase, source)
    return Checkpoint(path, KERAS_HUB, vocab_file, len(vocab), TokenizerSettings(lowercase=lowercase),
                      int(backbone.get("max_sequence_length", 512)), tuple(warnings), tuple(vocab),
                      path)


def _inspect_lmpipe(path: str) -> Checkpoint:
    enc = encoder.encoder_dir(path)
    vocab_file = _need(encoder.vocab_file(enc), "the vocabulary lmpipe saves beside its encoder")
    backbone = _read_json(os.path.join(enc, "config.json"))["config"]
    vocab = _check_vocab(vocab_file, backbone["vocabulary_size"])
    settings_file = _settings_file(enc, vocab_file)
    if settings_file:
        _check_tokenizer_config(settings_file, _read_json(settings_file))
    settings = TokenizerSettings.read(vocab_file)
    source = (f"{settings_file} do_lower_case {json.dumps(settings.lowercase)}" if settings_file
              else "lmpipe's default without tokenizer_config.json")
    return Checkpoint(path, LMPIPE, vocab_file, len(vocab), settings,
                      int(backbone.get("max_sequence_length", 512)),
                      tuple(casing_warnings(vocab, vocab_file, settings.lowercase, source)),
                      tuple(vocab), path)


class _SafetensorLoader:
    """keras-hub's SafetensorLoader, also finding `LayerNorm.weight`/`.bias` where its converter
    asks for the older `LayerNorm.gamma`/`.beta` (checkpoints saved by transformers 4.x+), and
    `embeddings.*` where it asks for `bert.embeddings.*` (a `BertModel`, saved without the
    task model's `bert.` prefix), and a `DistilBertModel`'s without `distilbert.`."""

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
                                    renamed.removeprefix("bert."),
                                    key.removeprefix("distilbert.")])
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


def _huggingface_config(ckpt: Checkpoint) -> dict:
    """config.json with transformers' defaults for what it does not say (inspect checked it)."""
    config = _read_json(os.path.join(ckpt.weights_dir, "config.json"))
    return {**_architecture(config).defaults, **config}


def _converter(config: dict):
    """keras-hub's converter module for the checkpoint's model type."""
    from keras_hub.src.utils.transformers import convert_bert, convert_distilbert

    return convert_distilbert if config["model_type"] == "distilbert" else convert_bert


def _huggingface_backbone(ckpt: Checkpoint, config: dict, dropout: float, dtype):
    """The encoder as keras-hub's converter configures it (random weights): lmpipe's
    BertEncoder (a BertBackbone honouring hidden_act) or keras-hub's DistilBertBackbone."""
    import keras_hub

    from models.core.backbone import BertEncoder

    settings = {**_converter(config).convert_backbone_config(config), "dropout": dropout,
                "max_sequence_length": ckpt.max_sequence_length, "dtype": dtype}
    if config["model_type"] == "distilbert":
        return keras_hub.models.DistilBertBackbone(**settings)
    return BertEncoder(**settings, num_segments=int(config["type_vocab_size"]),
                       exact_gelu=_GELU[config["hidden_act"]])


def load_text_classifier(ckpt: Checkpoint, dropout: float = 0.1, dtype: Optional[str] = None):
    """A fine-tuned classifier (`ckpt.classes`) as the model `lmpipe finetune --pooling cls`
    trains (models/text_classification/model.py: build_classifier), as transformers computes it
    (`modeling_bert.py`, `modeling_distilbert.py`): BertForSequenceClassification is keras-hub's
    BertTextClassifier (the encoder's pooler, a tanh dense on [CLS], then the `classifier`
    dense); DistilBertForSequenceClassification is [CLS] -> `pre_classifier` dense, ReLU ->
    `classifier` dense. Dense weights are transposed from PyTorch's. Logits `[batch, classes]`
    float32."""
    from models.text_classification.model import build_classifier

    if not ckpt.classes or ckpt.task != TEXT_CLASSIFICATION:
        raise CheckpointError(f"{ckpt.path} is not a fine-tuned text classifier.")
    config = _huggingface_config(ckpt)
    backbone = _huggingface_backbone(ckpt, config, dropout, dtype)
    model = build_classifier(backbone, len(ckpt.classes), dropout, pooling="cls")
    transpose = lambda t, _: np.transpose(t)  # noqa: E731
    with _SafetensorLoader(ckpt.weights_dir) as loader:
        _converter(config).convert_weights(backbone, loader, config)
        if model.pooled_dense is not None:
            loader.port_weight(model.pooled_dense.kernel, "pre_classifier.weight", transpose)
            loader.port_weight(model.pooled_dense.bias, "pre_classifier.bias")
        loader.port_weight(model.output_dense.kernel, "classifier.weight", transpose)
        loader.port_weight(model.output_dense.bias, "classifier.bias")
    return model


def save_classifier(model, ckpt: Checkpoint, model_dir: str, seq_length: int,
                    model_name: str) -> str:
    """Writes an imported classifier as lmpipe's model directory: `Format-Serving/`, the
    classifier SavedModel with the signatures, warmup requests and `assets.extra/lmpipe/` of a
    classifier lmpipe fine-tuned (models/core/export.py), and `encoder/` (the encoder with its
    pooler, vocabulary, tokenizer settings, and `classifier_head.npz`: the class names and the
    head's weights after the encoder, which `lmpipe finetune --pretrained` keeps when the
    data's classes are the same)."""
    from models.core import export
    from models.core.preprocessing import ClassifierPreprocessing
    from models.text_classification.model import head_layers
    from models.tokenizers.wordpiece import Tokenizer

    saved = encoder.save_encoder(model.backbone, model_dir, list(ckpt.vocab), ckpt.tokenizer)
    weights = [w for layer in head_layers(model) for w in layer.get_weights()]
    with open(os.path.join(saved, CLASSIFIER_HEAD_WEIGHTS), "wb") as f:
        np.savez(f, classes=np.array(ckpt.classes), task=np.array(TEXT_CLASSIFICATION),
                 **{f"w{i}": w for i, w in enumerate(weights)})
    preprocessing = ClassifierPreprocessing(
        Tokenizer(list(ckpt.vocab), ckpt.tokenizer, where=ckpt.vocab_file), seq_length)
    export.export_classifier(model, preprocessing, os.path.join(model_dir, encoder.SERVING_DIR),
                             list(ckpt.classes), seq_length, model_name,
                             encoder.vocab_file(saved))
    return model_dir


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


def load_token_classifier(ckpt: Checkpoint, dropout: float = 0.1, dtype: Optional[str] = None):
    """A fine-tuned BertForTokenClassification / DistilBertForTokenClassification as the model
    `lmpipe finetune --task token-classification` trains (models/token_classification/model.py:
    build_token_classifier): the encoder's token outputs, dropout, the `classifier` dense
    (transposed from PyTorch's), as transformers' `modeling_bert.py` computes it. Logits
    `[batch, seq, classes]` float32."""
    from models.token_classification.model import build_token_classifier

    if not ckpt.classes or ckpt.task != TOKEN_CLASSIFICATION:
        raise CheckpointError(f"{ckpt.path} is not a fine-tuned token classifier.")
    config = _huggingface_config(ckpt)
    backbone = _huggingface_backbone(ckpt, config, dropout, dtype)
    model = build_token_classifier(backbone, len(ckpt.classes), dropout)
    with _SafetensorLoader(ckpt.weights_dir) as loader:
        _converter(config).convert_weights(backbone, loader, config)
        loader.port_weight(model.output_dense.kernel, "classifier.weight",
                           lambda t, _: np.transpose(t))
        loader.port_weight(model.output_dense.bias, "classifier.bias")
    return model


def save_token_classifier(model, ckpt: Checkpoint, model_dir: str, seq_length: int,
                          model_name: str, stride: Optional[int] = None) -> str:
    """Writes an imported token classifier as lmpipe's model directory: `Format-Serving/`, the
    SavedModel `lmpipe finetune --task token-classification` pushes (entities with character
    offsets from raw text; models/token_classification/export.py), and `encoder/` with
    `classifier_head.npz` (its classes and output dense, kept by fine-tuning from it when the
    data's classes are the same). `stride`: the window overlap, default (seq_length - 2) // 4."""
    from models.token_classification.export import export_token_classifier
    from models.tokenizers.wordpiece import Tokenizer

    saved = encoder.save_encoder(model.backbone, model_dir, list(ckpt.vocab), ckpt.tokenizer)
    with open(os.path.join(saved, CLASSIFIER_HEAD_WEIGHTS), "wb") as f:
        np.savez(f, classes=np.array(ckpt.classes), task=np.array(TOKEN_CLASSIFICATION),
                 **{f"w{i}": w for i, w in enumerate(model.output_dense.get_weights())})
    tokenizer = Tokenizer(list(ckpt.vocab), ckpt.tokenizer, where=ckpt.vocab_file)
    export_token_classifier(model, tokenizer, os.path.join(model_dir, encoder.SERVING_DIR),
                            list(ckpt.classes), seq_length,
                            (seq_length - 2) // 4 if stride is None else stride, model_name,
                            encoder.vocab_file(saved))
    return model_dir


def _huggingface_masked_lm(ckpt: Checkpoint, dropout: float, dtype):
    from models.masked_lm.model import masked_lm_on

    config = _huggingface_config(ckpt)
    backbone = _huggingface_backbone(ckpt, config, dropout, dtype)
    if config["model_type"] == "distilbert":
        return _distilbert_masked_lm(ckpt, config, backbone)
    exact_gelu = _GELU[config["hidden_act"]]
    model = masked_lm_on(backbone, float(config["layer_norm_eps"]))
    _set_head_gelu(model, exact_gelu)  # Hugging Face's head transform uses hidden_act too
    with _SafetensorLoader(ckpt.weights_dir) as loader:
        _converter(config).convert_weights(backbone, loader, config)
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
    with _SafetensorLoader(ckpt.weights_dir) as loader:
        _converter(config).convert_weights(backbone, loader, config)
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
    return os.path.isfile(task) and _read_json(task).get("class_name", "").endswith("BertMaskedLM")


def save_mlm_head(model, encoder_dir: str) -> str:
    """The MLM head's weights beside a saved encoder, so that pretraining can go on from both."""
    path = os.path.join(encoder_dir, MLM_HEAD_WEIGHTS)
    head = model.get_layer("mlm_head")
    with open(path, "wb") as f:
        np.savez(f, layer_norm_epsilon=head.layer_norm_epsilon, exact_gelu=_head_exact_gelu(model),
                 **{f"w{i}": w for i, w in enumerate(head.get_weights())})
    return path


def save_model(model, vocab: Sequence[str], tokenizer: TokenizerSettings, model_dir: str,
               seq_length: int, max_predictions: int, top_k: int, model_name: str,
               where: str = "the checkpoint's vocabulary") -> str:
    """Writes a masked-LM model as lmpipe's model directory: `Format-Serving/` (the fill-mask
    SavedModel, models/core/export.py) and `encoder/` (encoder, MLM head, `vocab.txt` of `vocab`,
    tokenizer settings), as a pretraining run's Trainer does."""
    from models.core import export
    from models.core.preprocessing import TokenizeOnly
    from models.tokenizers.wordpiece import Tokenizer

    vocab = list(vocab)
    preprocessing = TokenizeOnly(Tokenizer(vocab, tokenizer, where=where), seq_length)
    export.export_masked_lm(model, preprocessing, os.path.join(model_dir, encoder.SERVING_DIR),
                            vocab, seq_length, max_predictions, top_k, model_name)
    saved = encoder.save_encoder(model.backbone, model_dir, vocab, tokenizer)
    if model.pretrained_head:
        save_mlm_head(model, saved)
    return model_dir
