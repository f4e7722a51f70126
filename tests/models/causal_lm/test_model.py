"""The causal LM (models/causal_lm/model.py) and its SavedModel (models/causal_lm/export.py), on a tiny
random GPT-2 with a byte-level BPE vocabulary learned here by Hugging Face's `tokenizers`,
loaded as TF Serving loads it (a TF1 session)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from models.causal_lm import export as causal_lm_export
from models.causal_lm import model as causal_lm
from models.tokenizers import bpe
from tests.models.export_helpers import load_tf1, run

SEQ = 24
PROMPTS = ["The city", "", "In 1900 the council of the new town", "é 日本 😀"]


def learn_bpe(directory, vocab_size=300):
    """A byte-level BPE vocabulary learned on the start of the bundled corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    corpus = os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "corpus", "news.txt")
    with open(corpus, encoding="utf-8") as f:
        texts = f.read(40_000).split("\n")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[bpe.EOT], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    os.makedirs(directory, exist_ok=True)
    tokenizer.model.save(directory)
    return tokenizer


@pytest.fixture(scope="module")
def vocabulary(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("bpe"))
    hf_tokenizer = learn_bpe(directory)
    return (*bpe.read_bpe(directory), hf_tokenizer)


@pytest.fixture(scope="module")
def model(vocabulary):
    keras_seed = 3
    import keras

    keras.utils.set_random_seed(keras_seed)
    return causal_lm.build_causal_lm(len(vocabulary[0]), SEQ, "tiny", dropout=0.0)


def greedy_without_cache(model, ids, new, eot):
    """The reference: a full forward pass over the whole sequence for every new token (the
    prompt kept to its last SEQ - new tokens)."""
    ids = (list(ids) or [eot])[-(SEQ - new):]
    out = []
    for _ in range(new):
        logits = model({"token_ids": tf.constant([ids]), "padding_mask": tf.ones([1, len(ids)],
                                                                                 tf.int32)})
        token = int(tf.argmax(logits[0, -1]))
        if token == eot:
            break
        out.append(token)
        ids.append(token)
    return out


def test_the_tokenizer_gives_hugging_faces_ids(vocabulary):
    vocab, merges, hf_tokenizer = vocabulary
    tokenizer = bpe.ByteLevelBPE(vocab, merges)
    texts = PROMPTS + ["  runs   of\tspaces\n\n", "supercalifragilistic" * 3, "It's we'll"]
    ours = tokenizer.tokenize(tf.constant(texts)).to_list()
    assert ours == [hf_tokenizer.encode(t).ids for t in texts]
    back = tokenizer.detokenize(tf.ragged.constant(ours)).numpy()
    assert [t.decode("utf-8") for t in back] == texts


def test_cached_generation_equals_generation_without_cache(vocabulary, model):
    vocab, merges, _ = vocabulary
    tokenizer = bpe.ByteLevelBPE(vocab, merges)
    ids = tokenizer.tokenize(tf.constant(PROMPTS))
    budget = [6, 5, 4, 0]
    n = len(PROMPTS)
    new = causal_lm_export.generate_ids(
        model, ids, tf.constant(budget), tf.zeros([n]), tf.zeros([n], tf.int32), tf.ones([n]),
        tf.zeros([n], tf.int64), tokenizer.eot_id, SEQ)
    expected = [greedy_without_cache(model, row, b, tokenizer.eot_id)
                for row, b in zip(ids.to_list(), budget)]
    assert new.to_list() == expected
    assert [len(row) for row in expected][:3] != [0, 0, 0]  # something was generated


def test_a_prompt_longer_than_the_positions_keeps_its_end(vocabulary, model):
    vocab, merges, _ = vocabulary
    tokenizer = bpe.ByteLevelBPE(vocab, merges)
    ids = tokenizer.tokenize(tf.constant(["the city council said " * 20]))
    assert ids.row_lengths()[0] > SEQ
    new = causal_lm_export.generate_ids(model, ids, tf.constant([4]), tf.zeros([1]),
                                        tf.zeros([1], tf.int32), tf.ones([1]),
                                        tf.zeros([1], tf.int64), tokenizer.eot_id, SEQ)
    assert new.to_list() == [greedy_without_cache(model, ids.to_list()[0], 4, tokenizer.eot_id)]


@pytest.fixture(scope="module")
def exported(vocabulary, model, tmp_path_factory):
    vocab, merges, _ = vocabulary
    path = str(tmp_path_factory.mktemp("clm") / "1")
    causal_lm_export.export_causal_lm(
        model, vocab, merges, path, SEQ, model_name="clm",
        defaults=causal_lm_export.GenerationDefaults(max_new_tokens=5))
    session, signatures = load_tf1(path)
    return path, session, signatures


def test_served_greedy_generation_in_a_tf1_session(vocabulary, model, exported):
    vocab, merges, _ = vocabulary
    tokenizer = bpe.ByteLevelBPE(vocab, merges)
    _, session, signatures = exported
    out = run(session, signatures["serving_default"], prompt=PROMPTS)
    expected = [greedy_without_cache(model, row, 5, tokenizer.eot_id)
                for row in tokenizer.tokenize(tf.constant(PROMPTS)).to_list()]
    assert out["token_count"].tolist() == [len(row) for row in expected]
    texts = tokenizer.detokenize(tf.ragged.constant(expected, dtype=tf.int64)).numpy()
    assert out["text"].tolist() == texts.tolist()


def _generate(session, signatures, prompts, **settings):
    n = len(prompts)
    feeds = dict(max_new_tokens=[8] * n, temperature=[1.0] * n, top_k=[0] * n, top_p=[1.0] * n,
                 seed=[7] * n)
    feeds.update({k: v if isinstance(v, list) else [v] * n for k, v in settings.items()})
    return run(session, signatures["generate"], prompt=prompts, **feeds)


def test_sampling_is_seeded_per_prompt_and_filters_apply(exported):
    _, session, signatures = exported
    alone = _generate(session, signatures, ["The city"])
    together = _generate(session, signatures, ["The city", "In 1900", ""],
                         seed=[7, 8, 9])
    assert together["text"][0] == alone["text"][0]  # whatever the batch
    again = _generate(session, signatures, ["The city"])
    assert again["text"].tolist() == alone["text"].tolist()
    seeds = {_generate(session, signatures, ["The city"], seed=s)["text"][0] for s in range(6)}
    assert len(seeds) > 1  # a random model sampled at temperature 1 varies with the seed
    greedy = _generate(session, signatures, ["The city"], temperature=0.0)
    for filters in ({"top_k": 1}, {"top_p": 1e-6}):
        assert (_generate(session, signatures, ["The city"], seed=3, **filters)["text"].tolist()
                == greedy["text"].tolist())
    budget = _generate(session, signatures, ["The city", "In 1900"], max_new_tokens=[0, 3])
    assert budget["token_count"].tolist()[0] == 0 and budget["token_count"][1] <= 3


def test_score_gives_each_tokens_log_probability(vocabulary, model, exported):
    vocab, merges, _ = vocabulary
    tokenizer = bpe.ByteLevelBPE(vocab, merges)
    _, session, signatures = exported
    texts = ["The city council", "a", "the end of the year " * 10]
    out = run(session, signatures["score"], text=texts)
    for row, text in enumerate(texts):
        ids = [tokenizer.eot_id] + tokenizer.tokenize(tf.constant([text])).to_list()[0][:SEQ - 1]
        logits = model({"token_ids": tf.constant([ids[:-1]]),
                        "padding_mask": tf.ones([1, len(ids) - 1], tf.int32)})
        expected = tf.gather(tf.nn.log_softmax(logits[0]), ids[1:], batch_dims=1).numpy()
        count = len(ids) - 1
        assert out["token_count"][row] == count
        np.testing.assert_allclose(out["log_probs"][row, :count], expected, atol=1e-4)
        assert (out["log_probs"][row, count:] == 0).all()
        np.testing.assert_allclose(out["perplexity"][row], np.exp(-expected.mean()), rtol=1e-4)


def test_lm_eval_and_the_model_information(vocabulary, model, exported):
    path, session, signatures = exported
    blocks = np.random.default_rng(0).integers(0, len(vocabulary[0]), size=(3, SEQ))
    examples = [tf.train.Example(features=tf.train.Features(feature={
        "token_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=block))}))
        .SerializeToString() for block in blocks]
    out = run(session, signatures["lm_eval"], examples=examples)
    inputs, targets = causal_lm.next_token_pairs(tf.constant(blocks))
    nll = tf.keras.losses.sparse_categorical_crossentropy(targets, model(inputs),
                                                          from_logits=True)
    np.testing.assert_allclose(out["token_nll"], tf.reduce_sum(nll, axis=1).numpy(), rtol=1e-4)
    assert out["token_count"].tolist() == [SEQ - 1] * 3
    with open(os.path.join(path, "assets.extra", "lmpipe", "model.json")) as f:
        info = json.load(f)
    assert info["task"] == "causal_lm" and info["positions"] == SEQ
    assert info["generation"]["max_new_tokens"] == 5
    assert bpe.read_bpe(os.path.join(path, "assets.extra", "lmpipe"))[0] == vocabulary[0]


def test_a_new_model_is_initialised_as_gpt2():
    """GPT-2's recipe (transformers' GPT2PreTrainedModel._init_weights): N(0, 0.02) everywhere,
    the residual projections N(0, 0.02 / sqrt(2 x layers)), zero biases, unit LayerNorm."""
    import keras

    keras.utils.set_random_seed(0)
    backbone = causal_lm.build_causal_lm(4000, SEQ, "tiny").backbone
    residual = 0.02 / (2 * backbone.num_layers) ** 0.5
    assert backbone.num_layers == 2 and np.isclose(residual, 0.01)
    std = {v.path: float(np.std(v.numpy())) for v in backbone.weights}
    mean = {v.path: float(np.mean(v.numpy())) for v in backbone.weights}
    checked = 0
    for path, value in std.items():
        if path.endswith(("bias", "beta")):
            assert value == 0 and mean[path] == 0, path
        elif path.endswith("gamma"):
            assert value == 0 and mean[path] == 1, path
        else:
            expected = residual if path.endswith(("attention_output/kernel",
                                                  "feedforward_output_dense/kernel")) else 0.02
            assert abs(value / expected - 1) < 0.05, (path, value, expected)
            assert abs(mean[path]) < 0.1 * expected, path
            checked += 1
    kernels = {p for p in std if p.endswith("kernel") or "embedding" in p}
    assert checked == len(kernels) >= 2 + 6 * backbone.num_layers
    assert sum(abs(v / residual - 1) < 0.05 for v in std.values()) == 2 * backbone.num_layers
