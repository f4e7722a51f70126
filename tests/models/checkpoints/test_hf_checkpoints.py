"""Checkpoints as transformers 5 saves them (issue 22): no vocab.txt, sentence-transformers
layouts, fine-tuned classifiers; against Hugging Face's own outputs, recorded by
bench/make_hf_checkpoints.py in tests/data/hf_checkpoints/ (its README lists every array)."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from models import checkpoints
from models.core import encoder
from models.core.backbone import sequence_output
from models.masked_lm.checkpoint import load_masked_lm, save_masked_lm
from models.text_classification.checkpoint import load_text_classifier, save_classifier
from models.tokenizers.wordpiece import Tokenizer
from tests.conftest import REPO

DATA = os.path.join(REPO, "tests", "data", "hf_checkpoints")


def _sentences():
    with open(os.path.join(DATA, "sentences.txt"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _expected(name):
    return np.load(os.path.join(DATA, name, "expected.npz"))


def _hf_token_ids(expected):
    return np.split(expected["token_ids"], np.cumsum(expected["token_lengths"])[:-1])


def _our_token_ids(ckpt, sentences, max_length=128):
    tokenizer = Tokenizer(list(ckpt.vocab), ckpt.tokenizer, where=ckpt.vocab_file)
    special = tokenizer.special
    ids = tokenizer.tokenize(tf.constant(sentences)).to_list()
    return [[special.cls, *row[:max_length - 2], special.sep] for row in ids]


def _hidden_inputs(expected):
    return {"token_ids": expected["hidden_input_ids"],
            "segment_ids": np.zeros_like(expected["hidden_input_ids"]),
            "padding_mask": expected["hidden_attention_mask"]}


def _hidden(backbone, expected):
    return sequence_output(backbone, _hidden_inputs(expected)).numpy()


def test_a_sentence_transformers_directory_as_the_package_ships_it():
    """all-MiniLM-L6-v2's layout: tokenizer.json and no vocab.txt, modules.json, mean pooling."""
    path = os.path.join(DATA, "st_minilm")
    ckpt = checkpoints.inspect(path)
    assert not os.path.exists(os.path.join(path, "vocab.txt"))
    assert ckpt.vocab_file == os.path.join(path, "tokenizer.json")
    assert (ckpt.vocab_size, ckpt.vocab[:2], ckpt.vocab[100:104]) == (
        2925, ("[PAD]", "[unused0]"), ("[UNK]", "[CLS]", "[SEP]", "[MASK]"))
    assert ckpt.tokenizer.lowercase and ckpt.pooling == "mean" and ckpt.model_dir == path
    # The fixture's tokenizer is uncased over a cased vocabulary: said, not refused.
    warning, = ckpt.warnings
    assert "has 363 capitalised word pieces of 2,925" in warning and ckpt.classes == ()
    expected = _expected("st_minilm")
    sentences = _sentences()
    ours = _our_token_ids(ckpt, sentences)
    theirs = _hf_token_ids(expected)
    different = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b.tolist()]
    assert len(ours) == 2000 and not different, [sentences[i] for i in different[:3]]
    model = load_masked_lm(ckpt, dropout=0.0)
    hidden = _hidden(model.backbone, expected)
    mask = expected["hidden_attention_mask"].astype(bool)
    np.testing.assert_allclose(hidden[mask], expected["hidden"][mask], atol=1e-4)
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    np.testing.assert_allclose(pooled, expected["mean_pooled"], atol=1e-4)


def test_a_sentence_transformers_transformer_in_a_subfolder_with_cls_pooling():
    path = os.path.join(DATA, "st_subfolder")
    ckpt = checkpoints.inspect(path)
    assert ckpt.path == path and ckpt.model_dir == os.path.join(path, "0_Transformer")
    assert ckpt.pooling == "cls"
    expected = np.load(os.path.join(path, "expected.npz"))
    hidden = _hidden(load_masked_lm(ckpt, dropout=0.0).backbone, expected)
    np.testing.assert_allclose(hidden[:, 0], expected["cls_pooled"], atol=1e-4)


def test_distilbert_as_transformers_saves_it_hidden_states_and_mlm_logits():
    """DistilBertForMaskedLM through keras-hub's converter and DistilBertBackbone: the same
    token ids, hidden states and MLM logits (its vocab_transform / vocab_layer_norm /
    vocab_projector head) as Hugging Face's; no segment embeddings, so segment ids change
    nothing."""
    import keras_hub

    ckpt = checkpoints.inspect(os.path.join(DATA, "distilbert_mlm"))
    assert ckpt.vocab_file.endswith("tokenizer.json") and ckpt.tokenizer.lowercase
    expected = _expected("distilbert_mlm")
    ours = _our_token_ids(ckpt, _sentences())
    assert ours == [t.tolist() for t in _hf_token_ids(expected)]
    model = load_masked_lm(ckpt, dropout=0.0)
    assert isinstance(model.backbone, keras_hub.models.DistilBertBackbone) and model.pretrained_head
    hidden = _hidden(model.backbone, expected)
    mask = expected["hidden_attention_mask"].astype(bool)
    np.testing.assert_allclose(hidden[mask], expected["hidden"][mask], atol=1e-4)
    x = {**_hidden_inputs(expected), "mask_positions": expected["mlm_positions"][:, None]}
    logits = model(x).numpy()[:, 0]
    np.testing.assert_allclose(logits, expected["mlm_logits"], atol=1e-4)
    x["segment_ids"] = np.ones_like(x["segment_ids"])
    np.testing.assert_array_equal(model(x).numpy()[:, 0], logits)


def test_an_imported_distilbert_is_an_lmpipe_model_to_go_on_from(tmp_path):
    """`lmpipe import` writes it as lmpipe's model directory; `--init-from` / `--pretrained`
    read that back (encoder as DistilBertBackbone, MLM head) with the same outputs, and a
    classifier on it freezes its embeddings and lowest layers."""
    import keras_hub

    from models.text_classification.model import build_classifier

    ckpt = checkpoints.inspect(os.path.join(DATA, "distilbert_mlm"))
    model = load_masked_lm(ckpt, dropout=0.0)
    model_dir = save_masked_lm(model, ckpt.vocab, ckpt.tokenizer, str(tmp_path / "m"),
                               32, 4, 5, "mlm")
    again = load_masked_lm(checkpoints.inspect(model_dir), dropout=0.0)
    expected = _expected("distilbert_mlm")
    x = {**_hidden_inputs(expected), "mask_positions": expected["mlm_positions"][:, None]}
    np.testing.assert_allclose(again(x).numpy(), model(x).numpy(), atol=1e-5)
    backbone = encoder.load_encoder(encoder.encoder_dir(model_dir))
    assert isinstance(backbone, keras_hub.models.DistilBertBackbone)
    classifier = build_classifier(backbone, 2, freeze_embeddings=True, freeze_layers=1)
    trainable = {v.path for v in classifier.trainable_variables}
    assert not any("embedding" in p or "transformer_layer_0/" in p for p in trainable)
    assert any("transformer_layer_1/" in p for p in trainable)
    assert tuple(classifier(_hidden_inputs(expected)).shape) == (64, 2)


@pytest.mark.parametrize("name,classes,lowercase", [
    ("bert_classifier", ("negative", "neutral", "positive"), False),
    ("distilbert_classifier", ("spam", "ham"), False)])
def test_a_fine_tuned_classifier_gives_the_pipelines_probabilities(name, classes, lowercase):
    path = os.path.join(DATA, name)
    ckpt = checkpoints.inspect(path)
    assert ckpt.classes == classes and ckpt.tokenizer.lowercase == lowercase
    expected = _expected(name)
    assert [str(n) for n in expected["label_names"]] == list(ckpt.classes)
    sentences = _sentences()
    ids = _our_token_ids(ckpt, [sentences[i] for i in expected["clf_index"]])
    assert ids == [t.tolist() for t in _hf_token_ids(expected)[:200]]
    model = load_text_classifier(ckpt, dropout=0.0)
    longest = max(map(len, ids))
    token_ids = np.array([row + [0] * (longest - len(row)) for row in ids])
    padding_mask = np.arange(longest)[None, :] < np.array([len(row) for row in ids])[:, None]
    logits = model({"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids),
                    "padding_mask": padding_mask}).numpy()
    np.testing.assert_allclose(logits, expected["logits"], atol=1e-4)
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), expected["probs"], atol=1e-4)


@pytest.mark.parametrize("name", ["bert_classifier", "distilbert_classifier"])
def test_the_imported_classifier_serves_the_same_probabilities_in_a_tf1_session(tmp_path, name):
    """save_classifier's SavedModel, loaded as TF Serving loads it, on raw text."""
    import tensorflow_text  # noqa: F401  (the tokenizer's ops)

    ckpt = checkpoints.inspect(os.path.join(DATA, name))
    model = load_text_classifier(ckpt, dropout=0.0)
    model_dir = save_classifier(model, ckpt, str(tmp_path / "model"), 128, "clf")
    head = checkpoints.classifier_head(os.path.join(model_dir, "encoder"))
    assert head[0] == list(ckpt.classes)
    expected = _expected(name)
    # A "[PAD]" typed in the text is id 0, which lmpipe's serving graph treats as padding
    # (its mask comes from the ids) where Hugging Face attends to it: those sentences are left
    # out here (one of the 64).
    keep = [i for i in range(64) if "[PAD]" not in _sentences()[expected["clf_index"][i]]]
    assert len(keep) == 63
    sentences = [_sentences()[expected["clf_index"][i]] for i in keep]
    session = tf.compat.v1.Session(graph=tf.Graph())
    meta = tf.compat.v1.saved_model.loader.load(session, ["serve"],
                                                os.path.join(model_dir, "Format-Serving"))
    sig = meta.signature_def["serving_default"]
    out = session.run({k: v.name for k, v in sig.outputs.items()},
                      {sig.inputs["text"].name: sentences})
    np.testing.assert_allclose(out["probabilities"], expected["probs"][keep], atol=1e-4)
    assert out["classes"][0].tolist() == [c.encode() for c in ckpt.classes]
    info = json.load(open(os.path.join(model_dir, "Format-Serving", "assets.extra", "lmpipe",
                                       "model.json")))
    assert info["labels"] == list(ckpt.classes) and info["seq_length"] == 128


@pytest.mark.parametrize("name,message", [
    ("bpe_tokenizer", r"tokenizer\.json: the tokenizer's model is BPE, not WordPiece"),
    ("roberta", r"model_type 'roberta' \(RobertaModel\) is not an architecture lmpipe imports; "
                r"it imports bert \(BertModel"),
    ("classifier_bad_id2label", r"id2label names 2 classes \(negative, positive\) but "
                                r"model\.safetensors's classifier\.weight scores 3"),
])
def test_checkpoints_lmpipe_cannot_read_are_refused_by_name(name, message):
    with pytest.raises(checkpoints.CheckpointError, match=message):
        checkpoints.inspect(os.path.join(DATA, name))


def test_distilbert_settings_lmpipe_cannot_honour_are_refused_by_name(tmp_path):
    path = tmp_path / "ckpt"
    shutil.copytree(os.path.join(DATA, "distilbert_mlm"), path)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "activation": "relu"}))
    with pytest.raises(checkpoints.CheckpointError, match=r"config\.json: activation \"relu\" is "
                       r"not supported: lmpipe supports only \"gelu\""):
        checkpoints.inspect(str(path))
    (path / "config.json").write_text(json.dumps({**config, "n_layers": 3}))
    with pytest.raises(checkpoints.CheckpointError, match=r"lacks 16 tensors of a DistilBERT with "
                       r"config\.json's 3 layers: transformer\.layer\.2\."):
        checkpoints.inspect(str(path))


def test_vocab_txt_and_tokenizer_json_must_agree(tmp_path):
    path = tmp_path / "ckpt"
    shutil.copytree(os.path.join(DATA, "st_minilm"), path)
    vocab = list(checkpoints.inspect(str(path)).vocab)
    vocab[2000], vocab[2001] = vocab[2001], vocab[2000]
    (path / "vocab.txt").write_text("".join(t + "\n" for t in vocab), encoding="utf-8")
    with pytest.raises(checkpoints.CheckpointError, match="a vocabulary other than vocab.txt's.*"
                                                          "first difference is id 2000"):
        checkpoints.inspect(str(path))
    vocab[2000], vocab[2001] = vocab[2001], vocab[2000]
    (path / "vocab.txt").write_text("".join(t + "\n" for t in vocab), encoding="utf-8")
    assert checkpoints.inspect(str(path)).vocab_file == str(path / "vocab.txt")
