"""Hugging Face BERT and DistilBERT checkpoints (`config.json` with `"model_type": "bert"` or
`"distilbert"`, `model.safetensors`, `vocab.txt` and `tokenizer_config.json` and/or
`tokenizer.json`): every config.json field in one of the tables below, every tensor's name and
shape checked from the file's header, the tokenizer settings checked; and the encoder built and
its weights read through keras-hub's own converters
(`keras_hub/src/utils/transformers/convert_bert.py`, `convert_distilbert.py`) with
`SafetensorLoader`. The families' loaders (`models/<family>/checkpoint.py`) add their heads."""

import dataclasses
import json
import os
import re
from typing import List, Optional, Tuple

import numpy as np
from absl import logging

from models.checkpoints.checks import (
    ASSUMED_UNCASED, HUGGINGFACE, SHOWN, SPECIAL_TOKEN_KEYS, SPECIAL_TOKENS, TEXT_CLASSIFICATION,
    QUESTION_ANSWERING, TOKEN_CLASSIFICATION, TOKENIZER_JSON, WEIGHTS_FILE, WORDPIECE_TOKENIZERS,
    Checkpoint, CheckpointError,
    casing_warnings, check_tokenizer_config, check_vocab, need, read_json)
from models.core import features
from models.tokenizers.wordpiece import TOKENIZER_CONFIG_FILE, TokenizerSettings

# Hugging Face's names: exact GELU or its tanh approximation (models/core/backbone.py: BertEncoder).
GELU = {"gelu": True, "gelu_new": False, "gelu_pytorch_tanh": False, "gelu_fast": False}
# Hugging Face model types lmpipe imports, with the architectures (transformers classes) read.
ACCEPTED_MODEL_TYPES = {"bert": ("BertModel", "BertForMaskedLM", "BertForPreTraining",
                                 "BertForSequenceClassification", "BertForTokenClassification",
                                 "BertForQuestionAnswering"),
                        "distilbert": ("DistilBertModel", "DistilBertForMaskedLM",
                                       "DistilBertForSequenceClassification",
                                       "DistilBertForTokenClassification",
                                       "DistilBertForQuestionAnswering")}
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
    "hidden_act": f"the encoder's and the MLM head's GELU, one of {', '.join(GELU)}",
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
        WORDPIECE_TOKENIZERS, "lmpipe tokenizes as BertTokenizer does",
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
    span_model: str  # ... of a fine-tuned question-answering model (head: qa_outputs.*)
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
    (r"qa_outputs\..*", "a question-answering span head (read by the question-answering "
                        "import and fine-tuning)"),
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
    tagger="BertForTokenClassification", span_model="BertForQuestionAnswering",
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
    tagger="DistilBertForTokenClassification", span_model="DistilBertForQuestionAnswering",
    not_used=((r"(.*\.)?position_ids", "a buffer of ids, not weights"),
              (r"(pre_)?classifier\..*", "a classification head (lmpipe finetune trains its own)"),
              (r"qa_outputs\..*", "a question-answering span head (read by the question-answering "
                                  "import and fine-tuning)")),
    decoder="vocab_projector.weight",
    mlm_head=("vocab_transform.weight", "vocab_transform.bias", "vocab_layer_norm.weight",
              "vocab_layer_norm.bias", "vocab_projector.bias"))
_ARCHITECTURES = {"bert": _BERT, "distilbert": _DISTILBERT}


def _architecture(config: dict) -> _Architecture:
    return _ARCHITECTURES[config.get("model_type", "bert")]


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
    if arch is _BERT and config["hidden_act"] not in GELU:
        raise CheckpointError(f"{config_file}: hidden_act {json.dumps(config['hidden_act'])} is "
                              f"not supported: lmpipe supports {', '.join(GELU)}; use a BERT "
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
            f"{', '.join(missing[:SHOWN])}{' ...' if len(missing) > SHOWN else ''}; the "
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
            f"lmpipe's converter would not use: {', '.join(unknown[:SHOWN])}"
            f"{f' (and {len(unknown) - SHOWN} more)' if len(unknown) > SHOWN else ''}. A model "
            "without them computes something else than the checkpoint; lmpipe imports "
            f"{kind}'s own weights ({', '.join(ACCEPTED_MODEL_TYPES[config['model_type']])}): "
            "use such a checkpoint.")
    if not_used:
        logging.info("%s: not used: %s.", weights_file, "; ".join(not_used))


def _task(config: dict) -> str:
    """TEXT_CLASSIFICATION or TOKEN_CLASSIFICATION for a fine-tuned classifier's config.json,
    QUESTION_ANSWERING for a fine-tuned span model's, "" for any other checkpoint."""
    arch, architectures = _architecture(config), config.get("architectures") or []
    return (TEXT_CLASSIFICATION if arch.classifier in architectures else
            TOKEN_CLASSIFICATION if arch.tagger in architectures else
            QUESTION_ANSWERING if arch.span_model in architectures else "")


def _classifier_classes(path: str, config: dict) -> Tuple[str, ...]:
    """The class names, in id order, of a fine-tuned BertForSequenceClassification or
    DistilBertForSequenceClassification, or of a Bert/DistilBertForTokenClassification (() for
    any other checkpoint). Raises CheckpointError
    for a classifier lmpipe cannot serve as transformers' text-classification pipeline does:
    not single-label (multi-label scores are sigmoids, regression has one output), id2label not
    ids 0..n-1 or with a name twice, a classifier weight with another number of rows than
    id2label, or no pooler (BERT) / pre_classifier (DistilBERT)."""
    arch, task = _architecture(config), _task(config)
    if task == QUESTION_ANSWERING:
        _check_span_head(path)
        return ()
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


def _check_span_head(path: str) -> None:
    """A BertForQuestionAnswering's `qa_outputs` must score two things (start, end)."""
    from safetensors import safe_open

    with safe_open(os.path.join(path, WEIGHTS_FILE), "np") as tensors:
        names = [n for n in tensors.keys() if n.endswith("qa_outputs.weight")]
        if not names:
            raise CheckpointError(f"{path}/{WEIGHTS_FILE} has no qa_outputs.weight, the span "
                                  "head its config.json's architectures name.")
        rows = _shape(tensors, names[0])[0]
    if rows != 2:
        raise CheckpointError(f"{path}/{WEIGHTS_FILE}: qa_outputs.weight scores {rows} outputs; "
                              "an extractive question-answering head scores 2 (start, end).")


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
             if t.get("content") not in SPECIAL_TOKENS]
    if extra:
        refuse(f"added_tokens {extra[:SHOWN]}", f"lmpipe matches only "
               f"{' '.join(SPECIAL_TOKEN_KEYS.values())} as whole tokens in text; remove the others")
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
    config = read_json(config_file) if os.path.isfile(config_file) else {}
    check_tokenizer_config(config_file, config)
    normalizer, warnings = {}, []
    if os.path.isfile(json_file):
        normalizer, warnings = _check_tokenizer_json(json_file, read_json(json_file), vocab)
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
                            f"{TOKENIZER_JSON} normalizer): {ASSUMED_UNCASED}.")
        said["do_lower_case"] = (True, "assumed")
    settings = TokenizerSettings(lowercase=bool(said["do_lower_case"][0]),
                                 strip_accents=said.get("strip_accents", (None,))[0])
    return settings, said["do_lower_case"][1], warnings


def inspect_huggingface(path: str, config: dict) -> Checkpoint:
    """A Hugging Face BERT or DistilBERT directory (`config`: its config.json): the config
    fields against the tables above, the weights' names and shapes, the vocabulary and the
    tokenizer settings; a fine-tuned classifier's classes. Raises CheckpointError."""
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
        vocab_file = need(os.path.join(path, TOKENIZER_JSON), "a BERT checkpoint's WordPiece "
                          f"vocabulary: {features.VOCAB_FILE} (one token per line in id order) or "
                          f"{TOKENIZER_JSON} (as transformers saves it), and there is neither")
    vocab = check_vocab(vocab_file, config["vocab_size"])
    settings, source, tokenizer_warnings = _huggingface_tokenizer(path, vocab)
    warnings += tokenizer_warnings + casing_warnings(vocab, vocab_file, settings.lowercase, source)
    return Checkpoint(path, HUGGINGFACE, vocab_file, len(vocab), settings,
                      int(config["max_position_embeddings"]), tuple(warnings), tuple(vocab), path,
                      classes=_classifier_classes(path, config), task=_task(config))


class SafetensorLoader:
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


def config_with_defaults(ckpt: Checkpoint) -> dict:
    """config.json with transformers' defaults for what it does not say (inspect checked it)."""
    config = read_json(os.path.join(ckpt.weights_dir, "config.json"))
    return {**_architecture(config).defaults, **config}


def converter(config: dict):
    """keras-hub's converter module for the checkpoint's model type."""
    from keras_hub.src.utils.transformers import convert_bert, convert_distilbert

    return convert_distilbert if config["model_type"] == "distilbert" else convert_bert


def new_backbone(ckpt: Checkpoint, config: dict, dropout: float, dtype):
    """The encoder as keras-hub's converter configures it (random weights): lmpipe's
    BertEncoder (a BertBackbone honouring hidden_act) or keras-hub's DistilBertBackbone."""
    import keras_hub

    from models.core.backbone import BertEncoder

    settings = {**converter(config).convert_backbone_config(config), "dropout": dropout,
                "max_sequence_length": ckpt.max_sequence_length, "dtype": dtype}
    if config["model_type"] == "distilbert":
        return keras_hub.models.DistilBertBackbone(**settings)
    return BertEncoder(**settings, num_segments=int(config["type_vocab_size"]),
                       exact_gelu=GELU[config["hidden_act"]])
