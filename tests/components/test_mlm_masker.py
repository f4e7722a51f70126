"""Tests of the MlmMasker component: masking statistics, determinism, executor I/O."""

import collections
import glob
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from components.mlm_masker import masking
from models.core import features

NUM_RESERVED = len(features.RESERVED_TOKENS)


def _random_window(rng, seq_length, vocab_size, content_len):
    """[CLS] content [SEP] [PAD]... with content ids drawn from the non-reserved ids."""
    window = np.full(seq_length, features.PAD_ID, dtype=np.int64)
    window[0] = features.CLS_ID
    window[1:1 + content_len] = rng.integers(NUM_RESERVED, vocab_size, size=content_len)
    window[1 + content_len] = features.SEP_ID
    return window


def _expected_num(n_candidates, mask_rate, max_predictions):
    return min(max_predictions, max(1, round(n_candidates * mask_rate)))


@pytest.fixture(scope="module", params=["mask_window", "mask_windows"])
def many_masked(request):
    """2000 windows of length 128 (vocab 1000, varying fill), masked once each: one by one
    (`mask_window`, the whole-word path) or as one stack (`mask_windows`, the masker's)."""
    seq_length, vocab_size, max_predictions = 128, 1000, 20
    data_rng = np.random.default_rng(0)
    windows = []
    for _ in range(2000):
        content_len = int(data_rng.integers(40, seq_length - 1))  # 40..126 tokens
        windows.append(_random_window(data_rng, seq_length, vocab_size, content_len))
    if request.param == "mask_window":
        masked = [masking.mask_window(
            window, masking.rng_for(7, window.tobytes() + bytes([i % 256]), i),
            vocab_size, mask_rate=0.15, max_predictions=max_predictions)
            for i, window in enumerate(windows)]
    else:
        stack = masking.mask_windows(np.stack(windows), masking.rng_for(7, b"stack", 0),
                                     vocab_size, mask_rate=0.15,
                                     max_predictions=max_predictions)
        masked = [{name: values[i] for name, values in stack.items()}
                  for i in range(len(windows))]
    return dict(windows=list(zip(windows, masked)), vocab_size=vocab_size,
                max_predictions=max_predictions)


def test_selection_rate_follows_rounding_rule(many_masked):
    total_selected = total_candidates = 0
    for window, m in many_masked["windows"]:
        n_candidates = int((window >= NUM_RESERVED).sum())
        n = int(m[features.MASK_WEIGHTS].sum())
        assert n == _expected_num(n_candidates, 0.15, many_masked["max_predictions"])
        total_selected += n
        total_candidates += n_candidates
    # Rounding moves each window by at most 0.5 prediction (and the 20 cap never binds
    # here: 126 * 0.15 = 18.9 -> 19), so the aggregate rate is 0.15 up to that.
    slack = 0.5 * len(many_masked["windows"]) / total_candidates
    assert abs(total_selected / total_candidates - 0.15) <= slack


def test_replacement_shares_80_10_10(many_masked):
    vocab_size = many_masked["vocab_size"]
    counts = collections.Counter()
    for window, m in many_masked["windows"]:
        n = int(m[features.MASK_WEIGHTS].sum())
        pos = m[features.MASK_POSITIONS][:n]
        new, old = m[features.TOKEN_IDS][pos], window[pos]
        counts["mask"] += int((new == features.MASK_ID).sum())
        counts["kept"] += int((new == old).sum())
        other = (new != features.MASK_ID) & (new != old)
        counts["random"] += int(other.sum())
        assert np.all((new[other] >= NUM_RESERVED) & (new[other] < vocab_size))
    total = sum(counts.values())
    # A random replacement equals the original id with probability 1 / (V - reserved).
    p_same = 1.0 / (vocab_size - NUM_RESERVED)
    expected = {"mask": 0.8, "random": 0.1 * (1 - p_same), "kept": 0.1 + 0.1 * p_same}
    for name, p in expected.items():
        sigma = math.sqrt(p * (1 - p) / total)
        assert abs(counts[name] / total - p) <= 4 * sigma, (name, counts, total)


@pytest.mark.parametrize("stacked", [False, True])
def test_positions_chosen_uniformly(stacked):
    # Fixed window, 100 candidates -> 15 predictions per masking; each candidate
    # position should be chosen with probability 0.15.
    window = _random_window(np.random.default_rng(1), 128, 1000, 100)
    trials = 2000
    hits = np.zeros(128)
    if stacked:
        stack = masking.mask_windows(np.stack([window] * trials), masking.rng_for(3, b"w", 0),
                                     1000)
        masked = [{name: values[i] for name, values in stack.items()} for i in range(trials)]
    else:
        masked = [masking.mask_window(window, masking.rng_for(3, b"w", dupe), 1000)
                  for dupe in range(trials)]
    for m in masked:
        n = int(m[features.MASK_WEIGHTS].sum())
        assert n == 15
        hits[m[features.MASK_POSITIONS][:n]] += 1
    cand = hits[1:101]
    sigma = math.sqrt(trials * 0.15 * 0.85)
    assert np.all(np.abs(cand - trials * 0.15) <= 5 * sigma)
    assert hits[0] == 0 and np.all(hits[101:] == 0)


def test_structure_of_masked_window(many_masked):
    max_predictions = many_masked["max_predictions"]
    for window, m in many_masked["windows"][:300]:
        assert m[features.TOKEN_IDS].dtype == np.int64
        assert m[features.TOKEN_IDS].shape == window.shape
        assert m[features.MASK_POSITIONS].shape == (max_predictions,)
        assert m[features.MASK_IDS].shape == (max_predictions,)
        assert m[features.MASK_WEIGHTS].shape == (max_predictions,)
        assert m[features.MASK_WEIGHTS].dtype == np.float32
        np.testing.assert_array_equal(m[features.PADDING_MASK],
                                      (window != features.PAD_ID).astype(np.int64))
        n = int(m[features.MASK_WEIGHTS].sum())
        assert 1 <= n <= max_predictions
        np.testing.assert_array_equal(m[features.MASK_WEIGHTS][:n], 1.0)
        np.testing.assert_array_equal(m[features.MASK_WEIGHTS][n:], 0.0)
        pos = m[features.MASK_POSITIONS][:n]
        assert np.all(np.diff(pos) > 0)  # sorted, distinct
        assert np.all(m[features.MASK_POSITIONS][n:] == 0)
        assert np.all(m[features.MASK_IDS][n:] == 0)
        # Reserved tokens (CLS/SEP/PAD) are never selected.
        assert np.all(window[pos] >= NUM_RESERVED)
        np.testing.assert_array_equal(m[features.MASK_IDS][:n], window[pos])
        # Unselected positions are untouched.
        untouched = np.ones(window.shape, bool)
        untouched[pos] = False
        np.testing.assert_array_equal(m[features.TOKEN_IDS][untouched], window[untouched])


def test_max_predictions_cap_and_no_candidates():
    window = _random_window(np.random.default_rng(2), 64, 50, 62)
    m = masking.mask_window(window, masking.rng_for(1, b"k", 0), 50,
                            mask_rate=0.5, max_predictions=5)
    assert m[features.MASK_WEIGHTS].sum() == 5
    assert masking.mask_window(
        np.array([features.CLS_ID, features.SEP_ID, features.PAD_ID, features.PAD_ID]),
        masking.rng_for(1, b"k", 0), 50) is None
    # A single candidate still gets one prediction (max(1, round(0.15)) == 1).
    m = masking.mask_window(np.array([features.CLS_ID, 9, features.SEP_ID, 0]),
                            masking.rng_for(1, b"k", 0), 50)
    assert m[features.MASK_POSITIONS][0] == 1 and m[features.MASK_IDS][0] == 9


def test_reproducible_and_dupe_dependent():
    window = _random_window(np.random.default_rng(3), 128, 1000, 120)

    def run(seed, key, dupe):
        return masking.mask_window(window, masking.rng_for(seed, key, dupe), 1000)

    a, b = run(42, b"key", 0), run(42, b"key", 0)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    for other in (run(42, b"key", 1), run(43, b"key", 0), run(42, b"kez", 0)):
        assert not np.array_equal(a[features.MASK_POSITIONS], other[features.MASK_POSITIONS])
    # The generator itself is a pure function of (seed, key, dupe).
    assert masking.rng_for(5, b"x", 2).integers(1 << 62) == \
        masking.rng_for(5, b"x", 2).integers(1 << 62)


def test_split_windows():
    w = masking.split_windows([2, 7, 3, 0, 2, 8, 9, 3], 4)
    assert w.dtype == np.int64 and w.tolist() == [[2, 7, 3, 0], [2, 8, 9, 3]]
    assert masking.split_windows([], 4).shape == (0, 4)
    with pytest.raises(ValueError, match=r"length 7.*seq_length=4"):
        masking.split_windows([2, 7, 3, 0, 2, 8, 3], 4)


# ----------------------------------------------------------------- executor / component

SEQ_LENGTH, DUPE_FACTOR, MAX_PREDICTIONS = 16, 3, 4
WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "far"]


def _window(content):
    ids = [features.CLS_ID] + content + [features.SEP_ID]
    return ids + [features.PAD_ID] * (SEQ_LENGTH - len(ids))


def _write_split(uri, split, docs):
    os.makedirs(os.path.join(uri, f"Split-{split}"))
    path = os.path.join(uri, f"Split-{split}", "transformed_examples-00000-of-00001.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as w:
        for windows in docs:
            packed = [i for win in windows for i in win]
            ex = tf.train.Example(features=tf.train.Features(feature={
                features.PACKED_IDS: tf.train.Feature(
                    int64_list=tf.train.Int64List(value=packed))}))
            w.write(ex.SerializeToString())


def _read_split(uri, split):
    files = sorted(glob.glob(os.path.join(uri, f"Split-{split}", "masked-*.tfrecord.gz")))
    assert files, os.listdir(uri)
    out = []
    for rec in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        f = tf.train.Example.FromString(rec).features.feature
        out.append({
            k: np.array(f[k].int64_list.value, dtype=np.int64)
            for k in (features.TOKEN_IDS, features.PADDING_MASK,
                      features.MASK_POSITIONS, features.MASK_IDS)})
        out[-1][features.MASK_WEIGHTS] = np.array(
            f[features.MASK_WEIGHTS].float_list.value, dtype=np.float32)
    return out


@pytest.fixture(scope="module")
def executor_run(tmp_path_factory):
    from tfx.types import artifact_utils, standard_artifacts

    from components.mlm_masker.executor import Executor
    from components.types import WordPieceVocab
    from models.core.features import VOCAB_FILE

    root = tmp_path_factory.mktemp("mlm")
    vocab_size = len(features.RESERVED_TOKENS) + len(WORDS)
    w = {word: NUM_RESERVED + i for i, word in enumerate(WORDS)}
    train_docs = [
        [_window([w["the"], w["cat"], w["sat"], w["on"], w["the"], w["mat"]]),
         _window([w["dog"], w["ran"], w["far"]] * 4)],
        [_window([w["cat"]] * 14)],
    ]
    # Eval: "the" dominates, so the majority baseline is non-trivial.
    eval_docs = [
        [_window([w["the"]] * 10 + [w["dog"]] * 4)],
        [_window([w["the"]] * 7 + [w["cat"]]), _window([w["far"], w["the"], w["the"]])],
    ]
    in_uri, vocab_uri, out_uri = (str(root / d) for d in ("in", "vocab", "out"))
    _write_split(in_uri, "train", train_docs)
    _write_split(in_uri, "eval", eval_docs)
    os.makedirs(vocab_uri)
    with open(os.path.join(vocab_uri, VOCAB_FILE), "w") as f:
        f.write("\n".join(list(features.RESERVED_TOKENS) + WORDS) + "\n")

    examples = standard_artifacts.Examples()
    examples.uri = in_uri
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    vocab = WordPieceVocab()
    vocab.uri = vocab_uri
    output = standard_artifacts.Examples()
    output.uri = out_uri
    exec_properties = dict(seq_length=SEQ_LENGTH, mask_rate=0.15,
                           max_predictions=MAX_PREDICTIONS, dupe_factor=DUPE_FACTOR,
                           seed=42)
    Executor().Do({"examples": [examples], "vocabulary": [vocab]},
                  {"masked_examples": [output]}, exec_properties)
    return dict(output=output, out_uri=out_uri, vocab_size=vocab_size,
                train_windows=[np.array(x) for d in train_docs for x in d],
                eval_windows=[np.array(x) for d in eval_docs for x in d],
                exec_properties=exec_properties)


def test_executor_outputs(executor_run):
    from tfx.types import artifact_utils

    r = executor_run
    assert artifact_utils.decode_split_names(r["output"].split_names) == ["train", "eval"]
    train, eval_ = _read_split(r["out_uri"], "train"), _read_split(r["out_uri"], "eval")
    assert len(train) == len(r["train_windows"]) * DUPE_FACTOR == 9
    assert len(eval_) == len(r["eval_windows"]) == 3
    for ex in train + eval_:
        assert ex[features.TOKEN_IDS].shape == (SEQ_LENGTH,)
        assert ex[features.PADDING_MASK].shape == (SEQ_LENGTH,)
        for k in (features.MASK_POSITIONS, features.MASK_IDS, features.MASK_WEIGHTS):
            assert ex[k].shape == (MAX_PREDICTIONS,)

    # Output is exactly what masking.py gives for (seed, the document's ids, dupe), whatever
    # Beam's ordering.
    def expected(windows_by_doc, dupes):
        out = []
        for doc in windows_by_doc:
            doc = np.stack(doc).astype(np.int64)
            for dupe in range(dupes):
                m = masking.mask_windows(doc, masking.rng_for(42, doc.astype("<i8").tobytes(), dupe),
                                         r["vocab_size"], 0.15, MAX_PREDICTIONS)
                out.extend({name: values[i] for name, values in m.items()}
                           for i in range(len(doc)))
        return out

    def canon(exs):
        return sorted(tuple(tuple(ex[k].tolist()) for k in sorted(ex)) for ex in exs)

    # Rebuild per-document structure (the index is the window's index in its document).
    train_docs = [r["train_windows"][:2], r["train_windows"][2:]]
    eval_docs = [r["eval_windows"][:1], r["eval_windows"][1:]]
    assert canon(train) == canon(expected(train_docs, DUPE_FACTOR))
    assert canon(eval_) == canon(expected(eval_docs, 1))
    # The dupes of a window are masked differently (at least for some window).
    assert len({tuple(ex[features.TOKEN_IDS].tolist()) for ex in train}) > len(
        r["train_windows"])


def test_executor_stats(executor_run):
    r = executor_run
    with open(os.path.join(r["out_uri"], "mlm_stats.json")) as f:
        stats = json.load(f)
    assert set(stats) == {"train", "eval"}
    for split, windows, dupes in (("train", r["train_windows"], DUPE_FACTOR),
                                  ("eval", r["eval_windows"], 1)):
        exs = _read_split(r["out_uri"], split)
        ids = collections.Counter()
        for ex in exs:
            n = int(ex[features.MASK_WEIGHTS].sum())
            ids.update(ex[features.MASK_IDS][:n].tolist())
        s = stats[split]
        assert s["windows"] == len(windows)
        assert s["examples"] == len(windows) * dupes
        assert s["masked_positions"] == sum(ids.values())
        top_count = max(ids.values())
        assert s["majority_token_id"] == min(i for i, c in ids.items() if c == top_count)
        assert s["majority_accuracy"] == pytest.approx(top_count / sum(ids.values()))
    assert r["output"].get_float_custom_property("majority_accuracy") == pytest.approx(
        stats["eval"]["majority_accuracy"])
    assert 0 < stats["eval"]["majority_accuracy"] <= 1


def test_component_wiring():
    from tfx import types
    from tfx.types import standard_artifacts

    from components.mlm_masker import MlmMasker
    from components.mlm_masker.executor import Executor
    from components.types import WordPieceVocab

    c = MlmMasker(examples=types.Channel(type=standard_artifacts.Examples),
                  vocabulary=types.Channel(type=WordPieceVocab), seq_length=128)
    assert c.exec_properties == dict(seq_length=128, mask_rate=0.15, max_predictions=20,
                                     dupe_factor=2, seed=42, whole_word_masking=0)
    assert c.outputs["masked_examples"].type is standard_artifacts.Examples
    assert c.executor_spec.executor_class is Executor


def test_whole_word_masking_masks_every_piece_of_a_chosen_word():
    # ids 5-9 start words, 10-14 are ## pieces: words are [5 10 11] [6] [7 12] [8] [9 13 14] ...
    continuation = np.array([False] * 10 + [True] * 5)
    window = np.array([features.CLS_ID, 5, 10, 11, 6, 7, 12, 8, 9, 13, 14, 6, 5, 10,
                       features.SEP_ID, features.PAD_ID])
    words = [[1, 2, 3], [4], [5, 6], [7], [8, 9, 10], [11], [12, 13]]
    sizes = set()
    for dupe in range(200):
        out = masking.mask_window(window, masking.rng_for(7, b"w", dupe), vocab_size=15,
                                  mask_rate=0.3, max_predictions=6, continuation=continuation)
        n = int(out[features.MASK_WEIGHTS].sum())
        chosen = set(out[features.MASK_POSITIONS][:n].tolist())
        assert 1 <= n <= 6
        for word in words:  # all of a word or none of it
            assert set(word) <= chosen or not set(word) & chosen
        sizes.add(n)
    # round(13 * 0.3) = 4 asked; a word that would overshoot is skipped, so after three
    # one-piece words only longer ones are left and the window gets 3.
    assert sizes == {3, 4}


def test_whole_word_masking_never_leaves_a_window_without_a_prediction():
    continuation = np.array([False] * 10 + [True] * 5)
    window = np.array([features.CLS_ID, 5, 10, 11, 12, features.SEP_ID])  # one 4-piece word
    out = masking.mask_window(window, masking.rng_for(1, b"x", 0), vocab_size=15,
                              mask_rate=0.15, max_predictions=20, continuation=continuation)
    assert out[features.MASK_POSITIONS][:4].tolist() == [1, 2, 3, 4]  # more than the 1 asked


def test_the_executor_masks_whole_words_when_asked(tmp_path):
    """Through the Beam executor: a `##` piece is masked only with the piece before it."""
    from tfx.types import artifact_utils, standard_artifacts

    from components.mlm_masker.executor import Executor
    from components.types import WordPieceVocab
    from models.core.features import VOCAB_FILE

    vocab = list(features.RESERVED_TOKENS) + ["cat", "dog", "##s"]
    cat, dog, plural = 5, 6, 7
    docs = [[_window([cat, plural, dog, cat, plural, dog, dog, cat, plural])] for _ in range(3)]
    in_uri, vocab_uri, out_uri = (str(tmp_path / d) for d in ("in", "vocab", "out"))
    _write_split(in_uri, "train", docs)
    os.makedirs(vocab_uri)
    with open(os.path.join(vocab_uri, VOCAB_FILE), "w") as f:
        f.write("\n".join(vocab) + "\n")
    examples, vocabulary, output = (standard_artifacts.Examples(), WordPieceVocab(),
                                    standard_artifacts.Examples())
    examples.uri, vocabulary.uri, output.uri = in_uri, vocab_uri, out_uri
    examples.split_names = artifact_utils.encode_split_names(["train"])
    Executor().Do({"examples": [examples], "vocabulary": [vocabulary]},
                  {"masked_examples": [output]},
                  dict(seq_length=SEQ_LENGTH, mask_rate=0.3, max_predictions=MAX_PREDICTIONS,
                       dupe_factor=10, seed=3, whole_word_masking=1))
    masked_plurals = 0
    for ex in _read_split(out_uri, "train"):
        n = int(ex[features.MASK_WEIGHTS].sum())
        chosen = set(ex[features.MASK_POSITIONS][:n].tolist())
        window = docs[0][0]
        for position in chosen:
            if window[position] == plural:
                masked_plurals += 1
                assert position - 1 in chosen  # its "cat" too
    assert masked_plurals > 0
