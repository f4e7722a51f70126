"""Parity of lmpipe's causal LM with Hugging Face's GPT-2 on the committed fixture
tests/data/gpt2_parity/ (bench/make_gpt2_parity.py; its README lists what is recorded): the
byte-level BPE ids of every sentence, the logits, and greedy continuations, eagerly
(`generate_ids`) and from the exported SavedModel in a TF1 session (as TF Serving runs it)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from models import bpe, causal_lm_export
from models.gpt2_checkpoint import inspect_gpt2, load_causal_lm, read_vocabulary
from tests.models.test_export import load_tf1, run

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "data", "gpt2_parity")
NEW_TOKENS = 20  # what the fixture's continuations were generated with
ATOL = 1e-4
# Inputs on which keras-hub's BytePairTokenizer (models/bpe.py) is known to differ from Hugging
# Face; each is asserted in its own strict xfail below, every other sentence must be equal.
KNOWN_DIFFERENCES = {
    "\u096c": "keras-hub's pre-tokenizer (split_strings_for_bpe) uses '\u096c' (Devanagari digit "
               "six) as its marker for GPT-2's lookahead and deletes every one in the text",
    "\x00": "tensorflow_text.regex_split stops at a NUL character: the rest of the text is "
             "dropped (tensorflow/text issue 997)",
}


def _known_difference(sentence):
    return next((reason for char, reason in KNOWN_DIFFERENCES.items() if char in sentence), None)


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
    """Every sentence but the known differences (KNOWN_DIFFERENCES, tested below)."""
    index = [i for i, s in enumerate(expected["sentences"]) if not _known_difference(s)]
    assert len(index) >= len(expected["sentences"]) - 2
    ours = tokenizer.tokenize(tf.constant([expected["sentences"][i] for i in index])).to_list()
    differ = [(i, expected["sentences"][i], o, expected["ids"][i]) for i, o in zip(index, ours)
              if o != expected["ids"][i]]
    assert not differ, f"{len(differ)} of {len(ours)} sentences differ:\n" + "\n".join(
        f"  {i}: {s!r}\n     lmpipe {o}\n     hf     {e}" for i, s, o, e in differ)


@pytest.mark.parametrize("char", sorted(KNOWN_DIFFERENCES))
def test_known_differences_from_hugging_faces_ids(expected, tokenizer, char):
    index = [i for i, s in enumerate(expected["sentences"]) if char in s]
    assert index
    ours = tokenizer.tokenize(tf.constant([expected["sentences"][i] for i in index])).to_list()
    if ours != [expected["ids"][i] for i in index]:
        pytest.xfail(KNOWN_DIFFERENCES[char])
    pytest.fail(f"lmpipe now gives Hugging Face's ids on text with {char!r}: remove it from "
                "KNOWN_DIFFERENCES")


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
