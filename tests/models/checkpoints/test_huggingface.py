"""Checkpoint import against the reference implementation: bench/make_bert_parity.py built a
small BERT with Hugging Face transformers (random weights; cased, Google's reserved ids, exact
GELU, 128 positions) and recorded its outputs."""

import json
import os
import shutil

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from models import checkpoints
from models.core import features, inputs
from models.masked_lm.checkpoint import load_masked_lm, save_masked_lm
from models.tokenizers.wordpiece import Tokenizer, TokenizerSettings, read_vocab

PARITY = "tests/data/bert_parity"
HF_CHECKPOINT = os.path.join(PARITY, "checkpoint")
HF_SPECIAL = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}


@pytest.fixture(scope="module")
def expected():
    return np.load(os.path.join(PARITY, "expected.npz"))


@pytest.fixture(scope="module")
def hf_model():
    return load_masked_lm(checkpoints.inspect(HF_CHECKPOINT), dropout=0.0)


@pytest.fixture(scope="module")
def imported(tmp_path_factory, hf_model):
    ckpt = checkpoints.inspect(HF_CHECKPOINT)
    model_dir = str(tmp_path_factory.mktemp("imported") / "model")
    save_masked_lm(hf_model, ckpt.vocab, ckpt.tokenizer, model_dir, seq_length=128,
                   max_predictions=20, top_k=5, model_name="bert")
    return model_dir


def test_a_hugging_face_directory_is_recognised_with_its_tokenizer_settings():
    ckpt = checkpoints.inspect(HF_CHECKPOINT)
    assert (ckpt.format, ckpt.vocab_size, ckpt.max_sequence_length) == ("huggingface", 2925, 128)
    assert ckpt.tokenizer == TokenizerSettings(lowercase=False, strip_accents=None)
    assert ckpt.warnings == ()


def test_encoder_and_mlm_logits_match_hugging_face(expected, hf_model):
    assert hf_model.pretrained_head and hf_model.backbone.exact_gelu
    model_inputs = inputs.bert_inputs(tf.constant(expected["input_ids"], tf.int32),
                                      mask_positions=tf.constant(expected["logit_positions"], tf.int32))
    # Hugging Face's attention mask as it was (a literal "[PAD]" in a sentence is a real token).
    model_inputs["padding_mask"] = tf.constant(expected["attention_mask"], tf.int32)
    backbone_inputs = {k: v for k, v in model_inputs.items() if k != "mask_positions"}
    hidden = hf_model.backbone(backbone_inputs)["sequence_output"].numpy()
    real = expected["attention_mask"].astype(bool)
    np.testing.assert_allclose(hidden[real], expected["hidden"], atol=1e-4, rtol=0)
    logits = hf_model(model_inputs).numpy()
    np.testing.assert_allclose(logits, expected["logits"], atol=1e-4, rtol=0)
    assert len(expected["hidden"]) > 1000 and expected["logits"].shape[-1] == 2925


def _load_tf1(path):
    import tensorflow_text  # noqa: F401  (the serving graph's tokenizer ops)

    session = tf.compat.v1.Session(graph=tf.Graph())
    meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
    return session, meta.signature_def


def hf_top5(expected, vocab):
    """Hugging Face's fill-mask pipeline's top 10 per [MASK], less the special tokens (which
    lmpipe never suggests), cut to 5."""
    return [[vocab[i] for i in row if vocab[i] not in HF_SPECIAL][:5] for row in expected["fill_ids"]]


def test_served_fill_mask_gives_hugging_face_pipelines_top_5(expected, imported):
    vocab = read_vocab(os.path.join(HF_CHECKPOINT, "vocab.txt"))
    session, signatures = _load_tf1(os.path.join(imported, "Format-Serving"))
    assert {"serving_default", "transform_features", "mlm_eval"} <= set(signatures)
    sig = signatures["serving_default"]
    out = session.run({k: v.name for k, v in sig.outputs.items()},
                      {sig.inputs["text"].name: [str(t) for t in expected["fill_mask_texts"]]})
    ours = [[t.decode() for t in out["tokens"][row][m]]
            for row, count in enumerate(out["mask_count"]) for m in range(count)]
    assert ours == hf_top5(expected, vocab)
    assert len(ours) == 15  # 12 sentences, three with two masks


def test_an_imported_model_reads_back_as_an_lmpipe_checkpoint(expected, hf_model, imported):
    again = checkpoints.inspect(imported)
    assert again.format == "lmpipe" and again.tokenizer.lowercase is False
    model = load_masked_lm(again, dropout=0.0)
    assert model.pretrained_head and model.backbone.exact_gelu
    x = inputs.bert_inputs(tf.constant(expected["input_ids"][:4], tf.int32),
                           mask_positions=tf.constant(expected["logit_positions"][:4], tf.int32))
    np.testing.assert_allclose(model(x).numpy(), hf_model(x).numpy(), atol=1e-5)


def test_a_keras_hub_preset_made_with_save_to_preset_imports_and_serves(tmp_path):
    vocab = list(features.RESERVED_TOKENS) + ["the", "cat", "sat", "on", "mat", ".", "a", "dog"]
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True)
    preprocessor = keras_hub.models.BertMaskedLMPreprocessor(tokenizer, sequence_length=16)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(vocab), num_layers=2, num_heads=2,
                                             hidden_dim=16, intermediate_dim=32,
                                             max_sequence_length=32)
    task = keras_hub.models.BertMaskedLM(backbone, preprocessor=preprocessor)
    preset = str(tmp_path / "preset")
    task.save_to_preset(preset)

    ckpt = checkpoints.inspect(preset)
    assert (ckpt.format, ckpt.vocab_size, ckpt.tokenizer.lowercase) == ("keras_hub", 13, True)
    model = load_masked_lm(ckpt, dropout=0.0)
    assert model.pretrained_head and not getattr(model.backbone, "exact_gelu", False)
    x = inputs.bert_inputs(tf.constant([[2, 5, 4, 7, 3, 0]], tf.int32),
                           mask_positions=tf.constant([[2]], tf.int32))
    # keras-hub's own BertMaskedLM on the same weights (its head's layer-norm epsilon is 1e-5).
    np.testing.assert_allclose(model(x).numpy(), task(x, training=False).numpy(), atol=1e-4)

    model_dir = str(tmp_path / "model")
    save_masked_lm(model, ckpt.vocab, ckpt.tokenizer, model_dir, 16, 4, 3, "kh")
    session, signatures = _load_tf1(os.path.join(model_dir, "Format-Serving"))
    sig = signatures["serving_default"]
    out = session.run({k: v.name for k, v in sig.outputs.items()},
                      {sig.inputs["text"].name: ["The CAT [MASK] on the mat."]})
    assert out["mask_count"].tolist() == [1] and out["tokens"].shape == (1, 1, 3)
    assert not set(out["tokens"].ravel()) & {t.encode() for t in features.RESERVED_TOKENS}


def _copy_checkpoint(tmp_path):
    target = str(tmp_path / "ckpt")
    shutil.copytree(HF_CHECKPOINT, target)
    return target


def test_a_directory_in_no_known_format_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(checkpoints.CheckpointError, match="not a checkpoint lmpipe knows.*notes.txt"):
        checkpoints.inspect(str(tmp_path))


def test_another_architecture_is_refused_by_name(tmp_path):
    path = _copy_checkpoint(tmp_path)
    config = json.load(open(os.path.join(path, "config.json")))
    config["model_type"] = "gpt2"
    json.dump(config, open(os.path.join(path, "config.json"), "w"))
    with pytest.raises(checkpoints.CheckpointError, match="model_type 'gpt2' .* is not an "
                                                          "architecture lmpipe imports; it imports bert"):
        checkpoints.inspect(path)


def test_a_vocabulary_of_another_size_than_the_embeddings_is_refused(tmp_path):
    path = _copy_checkpoint(tmp_path)
    vocab = read_vocab(os.path.join(path, "vocab.txt"))
    with open(os.path.join(path, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab[:-10]) + "\n")
    with pytest.raises(checkpoints.CheckpointError, match="has 2915 tokens but the model has 2925"):
        checkpoints.inspect(path)


def test_a_missing_vocabulary_or_weights_is_named(tmp_path):
    path = _copy_checkpoint(tmp_path)
    os.remove(os.path.join(path, "vocab.txt"))  # tokenizer.json alone is enough
    assert checkpoints.inspect(path).vocab_file == os.path.join(path, "tokenizer.json")
    os.remove(os.path.join(path, "tokenizer.json"))
    with pytest.raises(checkpoints.CheckpointError, match=r"ckpt/tokenizer.json is missing: a BERT "
                                                          r"checkpoint's WordPiece vocabulary"):
        checkpoints.inspect(path)
    shutil.move(os.path.join(path, "model.safetensors"), os.path.join(path, "pytorch_model.bin"))
    with pytest.raises(checkpoints.CheckpointError, match="only pytorch_model.bin.*save_pretrained"):
        checkpoints.inspect(path)


def test_the_tokenizer_of_an_imported_model_is_the_checkpoints(imported):
    """Cased, Google's ids: the serving graph's tokenizer reads the encoder's settings."""
    vocab_file = os.path.join(imported, "encoder", "vocab.txt")
    tok = Tokenizer(read_vocab(vocab_file), TokenizerSettings.read(vocab_file))
    assert tok.special.mask == 103 and not tok.settings.lowercase
    ids = tok.tokenize(tf.constant(["The [MASK] 北京"])).to_list()[0]
    assert ids[1] == 103 and len(ids) == 4


def test_a_bare_bert_model_without_prefix_or_head_imports(tmp_path, expected):
    """`BertModel.save_pretrained` writes `embeddings.*` (no `bert.`) and no MLM head."""
    from safetensors.numpy import load_file, save_file

    path = _copy_checkpoint(tmp_path)
    tensors = load_file(os.path.join(path, "model.safetensors"))
    save_file({k.removeprefix("bert."): v for k, v in tensors.items() if not k.startswith("cls.")},
              os.path.join(path, "model.safetensors"))
    model = load_masked_lm(checkpoints.inspect(path), dropout=0.0)
    assert not model.pretrained_head
    x = inputs.bert_inputs(tf.constant(expected["input_ids"][:8], tf.int32))
    x["padding_mask"] = tf.constant(expected["attention_mask"][:8], tf.int32)
    hidden = model.backbone(x)["sequence_output"].numpy()
    real = expected["attention_mask"][:8].astype(bool)
    np.testing.assert_allclose(hidden[real], expected["hidden"][:real.sum()], atol=1e-4)
