"""What every checkpoint format shares: the `Checkpoint` that `inspect` returns, its error, and
the checks of a WordPiece vocabulary and of Hugging Face tokenizer settings (tokenizer.json's
vocabulary, tokenizer_config.json's fields, a casing that contradicts the vocabulary)."""

import dataclasses
import json
import os
import re
from typing import List, Optional, Sequence

from models.core import features
from models.tokenizers.wordpiece import TOKENIZER_CONFIG_FILE, SpecialIds, TokenizerSettings, read_vocab

HUGGINGFACE, KERAS_HUB, LMPIPE = "huggingface", "keras_hub", "lmpipe"
CLASSIFIER_HEAD_WEIGHTS = "classifier_head.npz"  # an imported classifier's, beside its encoder
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_JSON = "tokenizer.json"
MODULES_JSON = "modules.json"  # a sentence-transformers directory
TEXT_CLASSIFICATION, TOKEN_CLASSIFICATION = "text-classification", "token-classification"
QUESTION_ANSWERING = "question-answering"  # a fine-tuned span model (BertForQuestionAnswering)
# Tokenizer classes that tokenize as BertTokenizer does (DistilBERT's only drops token_type_ids).
WORDPIECE_TOKENIZERS = (None, "BertTokenizer", "BertTokenizerFast", "DistilBertTokenizer",
                        "DistilBertTokenizerFast")
SHOWN = 5  # names in a message
# Tokenizer settings lmpipe cannot honour: BERT's special tokens by their names only.
SPECIAL_TOKEN_KEYS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]",
                      "sep_token": "[SEP]", "mask_token": "[MASK]"}
SPECIAL_TOKENS = set(SPECIAL_TOKEN_KEYS.values())
ASSUMED_UNCASED = (
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
    task: str = ""  # TEXT_CLASSIFICATION or TOKEN_CLASSIFICATION with classes, or QUESTION_ANSWERING

    @property
    def weights_dir(self) -> str:
        return self.model_dir or self.path


def read_json(path: str) -> dict:
    """A checkpoint's JSON file; CheckpointError naming it when it is not readable JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not readable JSON: {e}") from None


def need(path: str, what: str) -> str:
    """`path`, which must be a file; CheckpointError naming it and `what` it holds if not."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path} is missing: {what}")
    return path


def vocab_from_tokenizer_json(json_file: str) -> List[str]:
    """The WordPiece vocabulary of a Hugging Face `tokenizer.json` (its `model.vocab`, token ->
    id), in id order. Raises CheckpointError for a tokenizer that is not WordPiece (naming its
    type: BPE, Unigram, WordLevel), an [UNK] other than BERT's, or ids that are not 0..n-1 each
    once."""
    model = read_json(json_file).get("model") or {}
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


def check_vocab(vocab_file: str, embeddings: int) -> List[str]:
    """The vocabulary (vocab.txt, or tokenizer.json's model.vocab) in id order: each token once,
    BERT's special tokens in it, one token per row of the model's `embeddings`; else
    CheckpointError (VocabularyError for a repeated token)."""
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


def special_name(value) -> Optional[str]:
    """A special token as tokenizer_config.json writes it: a string or an AddedToken dict."""
    return value.get("content") if isinstance(value, dict) else value


def check_tokenizer_config(config_file: str, config: dict) -> None:
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
               f"tokens ({' '.join(SPECIAL_TOKENS)}); remove never_split")
    for key, token in SPECIAL_TOKEN_KEYS.items():
        if key in config and special_name(config[key]) not in (None, token):
            refuse(key, special_name(config[key]), f"lmpipe's special tokens are "
                   f"{' '.join(SPECIAL_TOKEN_KEYS.values())} (this one must be {token}); "
                   "rename it in vocab.txt and here")
    extra = [special_name(t) for t in config.get("additional_special_tokens") or []]
    extra += [special_name(t) for t in (config.get("added_tokens_decoder") or {}).values()]
    extra = [t for t in extra if t not in SPECIAL_TOKENS]
    if extra:
        refuse("additional_special_tokens" if config.get("additional_special_tokens")
               else "added_tokens_decoder", extra[:SHOWN],
               f"lmpipe matches only {' '.join(SPECIAL_TOKEN_KEYS.values())} as whole tokens "
               "in text; remove the others")
    cls = config.get("tokenizer_class")
    if cls not in WORDPIECE_TOKENIZERS:
        refuse("tokenizer_class", cls, "lmpipe tokenizes as BertTokenizer does; use a checkpoint "
               "with BERT's WordPiece tokenizer")


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


def tokenizer_settings_file(path: str, vocab_file: str) -> Optional[str]:
    """tokenizer_config.json beside the vocabulary or in `path`, or None."""
    for directory in (os.path.dirname(vocab_file), path):
        if os.path.isfile(os.path.join(directory, TOKENIZER_CONFIG_FILE)):
            return os.path.join(directory, TOKENIZER_CONFIG_FILE)
    return None
