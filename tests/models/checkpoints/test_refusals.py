"""Checkpoints are honoured exactly or refused before any work (models/checkpoints: inspect):
config.json fields, tensors, tokenizer settings and vocabularies. Each bad checkpoint is the
committed test checkpoint (tests/data/bert_parity/checkpoint) with one thing changed."""

import json
import logging
import os
import shutil

import numpy as np
import pytest

from models import checkpoints
from models.checkpoints import huggingface
from models.core import encoder
from models.masked_lm.checkpoint import load_masked_lm, save_mlm_head
from models.tokenizers.wordpiece import TokenizerSettings, read_vocab

HF_CHECKPOINT = "tests/data/bert_parity/checkpoint"
WEIGHTS = "model.safetensors"


@pytest.fixture
def ckpt(tmp_path):
    target = tmp_path / "ckpt"
    shutil.copytree(HF_CHECKPOINT, target)
    return target


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del data[key]
    path.write_text(json.dumps(data))


def _edit_tensors(path, drop=(), **add):
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(path / WEIGHTS))
    tensors = {k: v for k, v in tensors.items() if k not in drop}
    save_file({**tensors, **add}, str(path / WEIGHTS))
    return tensors


def _refused(path, *texts):
    with pytest.raises(checkpoints.CheckpointError) as e:
        checkpoints.inspect(str(path))
    for text in texts:
        assert text in str(e.value)
    return str(e.value)


# config.json


@pytest.mark.parametrize("kind", ["relative_key", "relative_key_query"])
def test_relative_position_embeddings_are_refused_by_name(ckpt, kind):
    _edit_json(ckpt / "config.json", position_embedding_type=kind)
    _refused(ckpt, f"{ckpt}/config.json: position_embedding_type \"{kind}\" is not supported",
             'lmpipe supports only "absolute"', "use a BERT checkpoint trained with absolute")


@pytest.mark.parametrize("field, value, expected", [
    ("is_decoder", True, "is_decoder true is not supported: lmpipe supports only false"),
    ("add_cross_attention", True, "add_cross_attention true is not supported"),
    ("layer_norm_eps", 1e-5, "layer_norm_eps 1e-05 is not supported: lmpipe supports only "
                             "1e-12: its encoder (keras-hub's BertBackbone)"),
    ("pruned_heads", {"0": [1]}, "pruned_heads {\"0\": [1]} is not supported"),
    ("tokenizer_class", "BertJapaneseTokenizer", "tokenizer_class \"BertJapaneseTokenizer\""),
    ("hidden_act", "relu", "hidden_act \"relu\" is not supported: lmpipe supports gelu, gelu_new"),
    ("num_attention_heads", 3, "hidden_size 64 is not a multiple of num_attention_heads 3"),
])
def test_a_config_field_that_changes_the_model_is_refused(ckpt, field, value, expected):
    _edit_json(ckpt / "config.json", **{field: value})
    _refused(ckpt, f"{ckpt}/config.json: ", expected)


def test_fields_that_do_not_change_outputs_are_accepted_and_unknown_ones_warned(ckpt):
    _edit_json(ckpt / "config.json", gradient_checkpointing=True, torch_dtype="float16",
               id2label={"0": "a"}, chunk_size_feed_forward=0, pooler_type="first_token_transform",
               rope_scaling={"factor": 2.0}, is_decoder=False, position_embedding_type="absolute")
    inspected = checkpoints.inspect(str(ckpt))
    assert inspected.warnings == (
        f"{ckpt}/config.json: lmpipe does not know the field rope_scaling (ignored); if it "
        "changes what the model computes, the imported model differs from the checkpoint.",)


def test_absent_fields_take_transformers_defaults(ckpt):
    _edit_json(ckpt / "config.json", type_vocab_size=None, layer_norm_eps=None, hidden_act=None)
    assert checkpoints.inspect(str(ckpt)).warnings == ()


def test_every_field_is_in_one_table_only():
    tables = [set(huggingface._HONOURED), set(huggingface._MUST_EQUAL), set(huggingface._IGNORED)]
    assert not (tables[0] & tables[1] or tables[0] & tables[2] or tables[1] & tables[2])
    assert set(huggingface._BERT_DEFAULTS) <= tables[0] | tables[1]


# model.safetensors


def test_a_tensor_the_converter_would_not_use_is_refused_by_name(ckpt):
    distance = np.zeros((255, 32), np.float32)
    _edit_tensors(ckpt, **{"bert.encoder.layer.0.attention.self.distance_embedding.weight": distance,
                           "bert.encoder.layer.2.output.dense.bias": np.zeros(64, np.float32)})
    _refused(ckpt, f"{ckpt}/{WEIGHTS} has 2 tensors that lmpipe's converter would not use: "
             "bert.encoder.layer.0.attention.self.distance_embedding.weight, "
             "bert.encoder.layer.2.output.dense.bias.", "computes something else")


def test_known_unused_tensors_are_logged_not_refused(ckpt, caplog, monkeypatch):
    # absl's logger may have stopped propagating to the root logger (an absl handler installed
    # by an earlier test in this process): caplog listens on the root.
    monkeypatch.setattr(logging.getLogger("absl"), "propagate", True)
    monkeypatch.setattr(logging.getLogger("absl"), "disabled", False)
    _edit_tensors(ckpt, **{"cls.seq_relationship.weight": np.zeros((2, 64), np.float32),
                           "bert.embeddings.position_ids": np.arange(128)[None],
                           "classifier.bias": np.zeros(3, np.float32),
                           "cls.predictions.decoder.bias": np.zeros(2925, np.float32)})
    with caplog.at_level(logging.INFO, logger="absl"):
        assert checkpoints.inspect(str(ckpt)).warnings == ()
    logged = caplog.text
    assert f"{ckpt}/{WEIGHTS}: not used: classifier.bias (a classification head" in logged
    assert "bert.embeddings.position_ids (a buffer of ids, not weights)" in logged
    assert "cls.predictions.decoder.bias (the same tensor as cls.predictions.bias)" in logged
    assert "cls.seq_relationship.weight (the next-sentence-prediction head)" in logged


def test_an_untied_decoder_that_differs_from_the_embeddings_is_refused(ckpt):
    tensors = _edit_tensors(ckpt)
    embeddings = tensors["bert.embeddings.word_embeddings.weight"]
    _edit_tensors(ckpt, **{"cls.predictions.decoder.weight": embeddings + 1})
    assert checkpoints.inspect(str(ckpt)).warnings == ()  # tied: Hugging Face ignores it too
    _edit_json(ckpt / "config.json", tie_word_embeddings=False)
    _refused(ckpt, f"{ckpt}/config.json: tie_word_embeddings false, and {ckpt}/{WEIGHTS} has its "
             "own cls.predictions.decoder.weight, which differs from the token embeddings",
             "remove the cls.predictions.* tensors")
    _edit_tensors(ckpt, **{"cls.predictions.decoder.weight": embeddings})
    assert checkpoints.inspect(str(ckpt)).warnings == ()  # the same weights: nothing differs


def test_missing_or_misshapen_tensors_are_refused(ckpt):
    _edit_json(ckpt / "config.json", max_position_embeddings=256)
    _refused(ckpt, "bert.embeddings.position_embeddings.weight has shape [128, 64] but "
             f"{ckpt}/config.json says [256, 64] (max_position_embeddings, hidden_size)")
    _edit_json(ckpt / "config.json", max_position_embeddings=128, num_hidden_layers=3)
    _refused(ckpt, f"{ckpt}/{WEIGHTS} lacks 16 tensors of a BERT with config.json's 3 layers: "
             "encoder.layer.2.attention.output.LayerNorm.bias")


# tokenizer settings


def test_no_tokenizer_settings_warns_what_was_assumed_and_the_cased_vocabulary(ckpt):
    os.remove(ckpt / "tokenizer_config.json")
    os.remove(ckpt / "tokenizer.json")
    inspected = checkpoints.inspect(str(ckpt))
    assert inspected.tokenizer == TokenizerSettings(lowercase=True)
    assert inspected.warnings == (
        f"{ckpt} has no tokenizer settings (no tokenizer_config.json, no tokenizer.json "
        "normalizer): assumed uncased with accents stripped (BertTokenizer's default, "
        "do_lower_case true); if the model is cased, write tokenizer_config.json with "
        "{\"do_lower_case\": false} beside vocab.txt.",
        f"{ckpt}/vocab.txt has 363 capitalised word pieces of 2,925 (e.g. A, B, C, D, E), but "
        "the tokenizer is uncased (assumed): lower-cased text never reaches them, so the model "
        "is probably cased; if so, write tokenizer_config.json with {\"do_lower_case\": false} "
        "beside the vocabulary.")


def test_tokenizer_json_normalizer_is_read_without_tokenizer_config(ckpt):
    os.remove(ckpt / "tokenizer_config.json")
    inspected = checkpoints.inspect(str(ckpt))
    assert inspected.tokenizer == TokenizerSettings(lowercase=False) and inspected.warnings == ()


def test_tokenizer_config_and_tokenizer_json_that_disagree_are_refused(ckpt):
    _edit_json(ckpt / "tokenizer_config.json", do_lower_case=True)
    _refused(ckpt, f"{ckpt}/tokenizer_config.json says do_lower_case true but "
             f"{ckpt}/tokenizer.json says normalizer lowercase false")


def test_uncased_settings_on_a_cased_vocabulary_warn_with_counts(ckpt):
    os.remove(ckpt / "tokenizer.json")
    _edit_json(ckpt / "tokenizer_config.json", do_lower_case=True)
    inspected = checkpoints.inspect(str(ckpt))
    assert inspected.tokenizer.lowercase
    assert inspected.warnings == (
        f"{ckpt}/vocab.txt has 363 capitalised word pieces of 2,925 (e.g. A, B, C, D, E), but "
        "the tokenizer is uncased (tokenizer_config.json do_lower_case true): lower-cased text "
        "never reaches them, so the model is probably cased; if so, write "
        "tokenizer_config.json with {\"do_lower_case\": false} beside the vocabulary.",)


def test_cased_settings_on_an_uncased_vocabulary_warn(ckpt):
    os.remove(ckpt / "tokenizer.json")
    vocab = read_vocab(str(ckpt / "vocab.txt"))
    seen, lowered = set(), []
    for i, token in enumerate(vocab):
        token = token if token.startswith("[") else token.lower()
        lowered.append(f"[unused{i}]" if token in seen else token)
        seen.add(token)
    (ckpt / "vocab.txt").write_text("\n".join(lowered) + "\n", encoding="utf-8")
    warning, = checkpoints.inspect(str(ckpt)).warnings
    assert warning.startswith(f"{ckpt}/vocab.txt has no capitalised word piece among ")
    assert "but the tokenizer is cased (tokenizer_config.json do_lower_case false)" in warning
    assert "{\"do_lower_case\": true}" in warning


@pytest.mark.parametrize("key, value, expected", [
    ("do_basic_tokenize", False, "do_basic_tokenize false is not supported"),
    ("tokenize_chinese_chars", False, "tokenize_chinese_chars false is not supported"),
    ("never_split", ["[FOO]"], "never_split [\"[FOO]\"] is not supported"),
    ("unk_token", "<unk>", "unk_token \"<unk>\" is not supported: lmpipe's special tokens are "
                           "[PAD] [UNK] [CLS] [SEP] [MASK] (this one must be [UNK])"),
    ("mask_token", {"content": "<mask>", "__type": "AddedToken"}, "mask_token \"<mask>\""),
    ("additional_special_tokens", ["[E1]"], "additional_special_tokens [\"[E1]\"]"),
    ("tokenizer_class", "BertJapaneseTokenizer", "tokenizer_class \"BertJapaneseTokenizer\""),
])
def test_tokenizer_settings_lmpipe_cannot_honour_are_refused_by_key(ckpt, key, value, expected):
    _edit_json(ckpt / "tokenizer_config.json", **{key: value})
    _refused(ckpt, f"{ckpt}/tokenizer_config.json: {expected}")


def test_a_tokenizer_json_vocabulary_other_than_vocab_txt_is_refused(ckpt):
    tok = json.loads((ckpt / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    vocab["the"], vocab["of"] = vocab["of"], vocab["the"]
    (ckpt / "tokenizer.json").write_text(json.dumps(tok))
    _refused(ckpt, f"{ckpt}/tokenizer.json: a vocabulary other than vocab.txt's is not supported",
             "Hugging Face tokenizes with tokenizer.json's, lmpipe with vocab.txt")


# vocabularies


def test_a_duplicate_vocabulary_token_is_refused_with_both_lines(ckpt):
    lines = (ckpt / "vocab.txt").read_text(encoding="utf-8").split("\n")
    the = lines.index("the")
    lines[2922] = "the"  # line 2923, as in the reported checkpoint
    (ckpt / "vocab.txt").write_text("\n".join(lines), encoding="utf-8")
    os.remove(ckpt / "tokenizer.json")
    _refused(ckpt, f"{ckpt}/vocab.txt: 1 duplicate token: 'the' on lines {the + 1} and 2923. "
             "Every token must appear once (its line number is its id): remove line 2923 or the "
             "earlier line", "Hugging Face's tokenizers would silently give such a token the id "
             "of its last line")


def test_a_duplicate_in_a_keras_hub_preset_or_lmpipe_vocabulary_is_refused(tmp_path):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cat", "dog", "cat", "a", "a"]
    preset = tmp_path / "preset"
    (preset / "assets" / "tokenizer").mkdir(parents=True)
    (preset / "config.json").write_text(json.dumps(
        {"class_name": "BertBackbone", "config": {"vocabulary_size": len(vocab)}}))
    (preset / "model.weights.h5").write_bytes(b"")
    (preset / "assets" / "tokenizer" / "vocabulary.txt").write_text("\n".join(vocab) + "\n")
    _refused(preset, "vocabulary.txt: 2 duplicate tokens: 'cat' on lines 6 and 8; 'a' on lines 9 "
             "and 10.", "remove lines 8, 10 or the earlier lines")

    model = tmp_path / "model"
    enc = model / encoder.ENCODER_DIR
    enc.mkdir(parents=True)
    (enc / "config.json").write_text(json.dumps({"config": {"vocabulary_size": len(vocab)}}))
    (enc / "vocab.txt").write_text("\n".join(vocab) + "\n")
    TokenizerSettings().write(str(enc))
    _refused(model, f"{enc}/vocab.txt: 2 duplicate tokens")


def test_an_lmpipe_vocabulary_with_its_settings_does_not_warn(tmp_path):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(20)]
    enc = tmp_path / "model" / encoder.ENCODER_DIR
    enc.mkdir(parents=True)
    (enc / "config.json").write_text(json.dumps({"config": {"vocabulary_size": len(vocab)}}))
    (enc / "vocab.txt").write_text("\n".join(vocab) + "\n")
    TokenizerSettings().write(str(enc))
    assert checkpoints.inspect(str(tmp_path / "model")).warnings == ()


# the MLM head's GELU


def test_a_tanh_gelu_checkpoint_gets_a_tanh_gelu_mlm_head_also_when_saved(ckpt, tmp_path):
    from keras_hub.src.utils.keras_utils import gelu_approximate

    _edit_json(ckpt / "config.json", hidden_act="gelu_new")
    model = load_masked_lm(checkpoints.inspect(str(ckpt)), dropout=0.0)
    assert not model.backbone.exact_gelu
    assert model.get_layer("mlm_head")._intermediate_dense.activation is gelu_approximate
    saved = encoder.save_encoder(model.backbone, str(tmp_path / "saved"), str(ckpt / "vocab.txt"))
    save_mlm_head(model, saved)
    again = load_masked_lm(checkpoints.inspect(str(tmp_path / "saved")), dropout=0.0)
    assert again.get_layer("mlm_head")._intermediate_dense.activation is gelu_approximate
