"""Parity of lmpipe's causal LM with Hugging Face's GPT-2 on the committed fixture
tests/data/gpt2_parity/ (bench/make_gpt2_parity.py; its README lists what is recorded): the
byte-level BPE ids of every sentence, the logits, and greedy continuations, eagerly
(`generate_ids`) and from the exported SavedModel in a TF1 session (as TF Serving runs it)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

from models.causal_lm import export as causal_lm_export
from models.causal_lm.checkpoint import load_causal_lm
from models.checkpoints.gpt2 import inspect_gpt2, read_vocabulary
from models.tokenizers import bpe
from tests.models.export_helpers import load_tf1, run

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "data", "gpt2_parity")
NEW_TOKENS = 20  # what the fixture's continuations were generated with
ATOL = 1e-4
def _ragged(lengths, values):
    return [row.tolist() for row in np.split(values, np.cumsum(lengths)[:-1])]


@pytest.fixture(scope="module")
def expected():
    with open(os.path.join(FIXTURE, "sentences.txt"), encoding="utf-8") as f:
        sentences = [json.loads(line) for line in f]
    with np.load(os.path.join(FIXTURE, "expected.npz")) as npz:
        data = dict(npz)
    data["sentences"] = sentences
    data["ids"] = _ragged(data["token_lengths"], data["token_ids"])
    data["prompt_rows"] = _ragged(data["prompt_lengths"], data["prompt_ids"])
    assert len(data["ids"]) == len(sentences)
    eot = read_vocabulary(inspect_gpt2(os.path.join(FIXTURE, "checkpoint")))[0][bpe.EOT]
    # Hugging Face stops at <|endoftext|> and keeps it; lmpipe's generation stops before it.
    data["greedy"] = [[t for t in row if t >= 0][:list(row).index(eot) if eot in row else None]
                      for row in data["continuations"].tolist()]
    return data


@pytest.fixture(scope="module")
def ckpt():
    return inspect_gpt2(os.path.join(FIXTURE, "checkpoint"))


@pytest.fixture(scope="module")
def tokenizer(ckpt):
    return bpe.ByteLevelBPE(*read_vocabulary(ckpt))


@pytest.fixture(scope="module")
def model(ckpt):
    return load_causal_lm(ckpt, dropout=0.0)


def test_ids_equal_hugging_faces_for_every_sentence(expected, tokenizer):
    ours = tokenizer.tokenize(tf.constant(expected["sentences"])).to_list()
    differ = [(i, s, o, e) for i, (s, o, e) in enumerate(zip(expected["sentences"], ours,
                                                              expected["ids"])) if o != e]
    assert not differ, f"{len(differ)} of {len(ours)} sentences differ:\n" + "\n".join(
        f"  {i}: {s!r}\n     lmpipe {o}\n     hf     {e}" for i, s, o, e in differ)


def test_text_is_cut_into_words_as_hugging_faces_gpt2_pre_tokenizer_cuts_it():
    """Whitespace runs of every Unicode kind before words and at the end, NUL, U+096C,
    contractions, emoji, <|endoftext|> (bench/make_gpt2_pretokenized.py): the fixture's
    vocabulary has few whitespace merges, so ids alone would not show a cut in the wrong place."""
    with open(os.path.join(FIXTURE, "pretokenized.json"), encoding="utf-8") as f:
        data = json.load(f)
    chars, codes = bytes_to_unicode()  # Hugging Face's pieces show bytes as GPT-2's characters
    byte_to_char = {b[0]: c for b, c in zip(chars, codes)}
    ours = [[bpe.EOT if p == bpe.EOT.encode() else "".join(byte_to_char[x] for x in p)
             for p in row] for row in bpe.split_like_gpt2(tf.constant(data["texts"])).to_list()]
    differ = [(t, o, e) for t, o, e in zip(data["texts"], ours, data["pieces"]) if o != e]
    assert len(ours) == len(data["pieces"]) > 2000
    assert not differ, f"{len(differ)} of {len(ours)} texts are cut otherwise:\n" + "\n".join(
        f"  {t!r}\n     lmpipe {o}\n     hf     {e}" for t, o, e in differ[:10])


def test_detokenizing_hugging_faces_ids_gives_the_sentence_back(expected, tokenizer):
    texts = tokenizer.detokenize(tf.ragged.constant(expected["ids"], dtype=tf.int64)).numpy()
    assert [t.decode("utf-8") for t in texts] == expected["sentences"]


def test_logits_within_1e_4(expected, model):
    rows = _ragged(expected["logit_lengths"], np.concatenate(
        [np.array(expected["ids"][i][:n]) for i, n in zip(expected["logit_index"],
                                                          expected["logit_lengths"])]))
    ragged = tf.ragged.constant(rows, dtype=tf.int32)
    logits = model({"token_ids": ragged.to_tensor(0),
                    "padding_mask": tf.ones_like(ragged).to_tensor(0)}, training=False)
    ours = tf.RaggedTensor.from_tensor(tf.cast(logits, tf.float32),
                                       lengths=ragged.row_lengths()).flat_values.numpy()
    assert ours.shape == expected["logits"].shape
    diff = np.abs(ours - expected["logits"]).max()
    print(f"max |logit difference| {diff:.2e} over {ours.shape[0]} positions")
    assert diff <= ATOL


def test_eager_greedy_continuations_equal_hugging_faces(expected, model, ckpt, tokenizer):
    n = len(expected["prompt_rows"])
    new = causal_lm_export.generate_ids(
        model, tf.ragged.constant(expected["prompt_rows"], dtype=tf.int64),
        tf.fill([n], NEW_TOKENS), tf.zeros([n]), tf.zeros([n], tf.int32), tf.ones([n]),
        tf.zeros([n], tf.int64), tokenizer.eot_id, ckpt.positions)
    assert new.to_list() == expected["greedy"]


@pytest.fixture(scope="module")
def served(model, ckpt, tmp_path_factory):
    vocab, merges = read_vocabulary(ckpt)
    path = str(tmp_path_factory.mktemp("gpt2_parity") / "1")
    causal_lm_export.export_causal_lm(model, vocab, merges, path, ckpt.positions,
                                      model_name="gpt2_parity")
    return load_tf1(path)


def test_served_greedy_continuations_equal_hugging_faces(expected, served):
    session, signatures = served
    prompts = expected["prompts"].tolist()
    n = len(prompts)
    out = run(session, signatures[causal_lm_export.GENERATE_SIGNATURE], prompt=prompts,
              max_new_tokens=[NEW_TOKENS] * n, temperature=[0.0] * n, top_k=[0] * n,
              top_p=[1.0] * n, seed=[0] * n)
    assert out["token_count"].tolist() == [len(row) for row in expected["greedy"]]
    assert ([t.decode("utf-8") for t in out["text"]]
            == expected["continuation_texts"].tolist())
