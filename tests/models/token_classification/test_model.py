"""Token classification in the model layer (issue 23): first-piece label alignment and windows,
entity counting checked against seqeval, served entities with exact character offsets, and
the export loaded as TF Serving loads it."""

import os
import random

import numpy as np
import pytest
import tensorflow as tf

from models.core.backbone import build_backbone
from models.token_classification import export as tce
from models.token_classification import metrics as entity_metrics
from models.token_classification import model as tc
from models.tokenizers.wordpiece import load_tokenizer
from tests.conftest import REPO

VOCAB = os.path.join(REPO, "tests", "data", "bert_parity", "checkpoint", "vocab.txt")
LABELS = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(VOCAB)  # Google's cased layout: [UNK] 100, [CLS] 101, [SEP] 102


@pytest.fixture(scope="module")
def model(tokenizer):
    keras_seed = 7
    tf.keras.utils.set_random_seed(keras_seed)
    return tc.build_token_classifier(build_backbone(len(tokenizer.vocab), 64, "tiny"),
                                     len(LABELS), dropout=0.0)


def _transform(tokenizer, sentences, seq_length, stride):
    tokens = tf.ragged.constant([[w for w, _ in s] for s in sentences])
    tags = tf.ragged.constant([[t for _, t in s] for s in sentences])
    out = tc.preprocessing_fn({"tokens": tokens.to_sparse(), "tags": tags.to_sparse()},
                              {"tokenizer": tokenizer, "seq_length": seq_length,
                               "stride": stride, "labels": LABELS})
    return {k: tf.RaggedTensor.from_sparse(v).to_list() for k, v in out.items()}


SENTENCES = [
    # several pieces per word, punctuation attached to a word (its own pieces), a word that is
    # [UNK] (a character outside the vocabulary), a tag on every kind
    [("Lovelace's", "B-PER"), ("notes,", "O"), ("ꙮ", "O"), ("Kensington", "B-LOC"),
     ("Gardens.", "I-LOC")],
    [("U.S.", "B-LOC"), ("Ada", "B-PER")],
    # longer than one window of 8 pieces
    [(w, "B-ORG" if i % 5 == 0 else "O") for i, w in enumerate(
        "the committee of the international association met in geneva on tuesday "
        "afternoon to discuss extraordinary circumstances".split())],
]


@pytest.mark.parametrize("seq_length,stride", [(10, 3), (10, 0), (64, 16)])
def test_each_words_label_is_on_its_first_piece_in_every_window(tokenizer, seq_length, stride):
    out = _transform(tokenizer, SENTENCES, seq_length, stride)
    body = seq_length - 2
    for sentence, ids, labels in zip(SENTENCES, out["token_ids"], out["label_ids"]):
        pieces, expected = [], []
        for word, tag in sentence:
            word_ids = tokenizer.tokenize(tf.constant([word])).to_list()[0]
            assert word_ids, word
            pieces += word_ids
            expected += [LABELS.index(tag)] + [tc.IGNORE] * (len(word_ids) - 1)
        windows = np.reshape(ids, [-1, seq_length])
        window_labels = np.reshape(labels, [-1, seq_length])
        step = body - stride
        covered = set()
        for w, (row, row_labels) in enumerate(zip(windows, window_labels)):
            start = w * step
            n = min(body, len(pieces) - start)
            assert row[0] == tokenizer.special.cls and row[n + 1] == tokenizer.special.sep
            assert list(row[1:n + 1]) == pieces[start:start + n]  # never cut, in order
            assert list(row_labels[1:n + 1]) == expected[start:start + n]
            assert row_labels[0] == row_labels[n + 1] == tc.IGNORE
            assert all(x == tokenizer.special.pad for x in row[n + 2:])
            covered.update(range(start, start + n))
        assert covered == set(range(len(pieces)))
        assert len(windows) == (1 if len(pieces) <= body else
                                1 + -(-(len(pieces) - body) // step))
    assert out["word_label_ids"][0] == [5, 0, 0, 1, 2]
    unk = tokenizer.tokenize(tf.constant(["ꙮ"])).to_list()[0]
    assert unk == [tokenizer.special.unk]
    assert len(tokenizer.tokenize(tf.constant(["U.S."])).to_list()[0]) == 4  # U . S .


def test_window_owners_partition_the_pieces():
    for n in range(0, 40):
        starts, lengths, owners = (t.to_list()[0] for t in tc.window_plan(
            tf.constant([n], tf.int64), body=8, stride=3))
        window, position = tc.piece_windows(tf.constant([n], tf.int64),
                                            tf.ragged.constant([starts], tf.int64),
                                            tf.ragged.constant([owners], tf.int64))
        for p, (w, pos) in enumerate(zip(window.numpy(), position.numpy())):
            assert starts[w] + pos - 1 == p and 1 <= pos <= lengths[w]
            # the owner is the window where the piece is farthest from an edge shared with
            # another window
            assert p >= owners[w] and (w + 1 == len(owners) or p < owners[w + 1])


def _seqeval_entities(tags):
    from seqeval.metrics.sequence_labeling import get_entities
    return get_entities(tags)


def test_entity_counts_agree_with_seqeval():
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    rng = random.Random(0)
    gold_rows, predicted_rows = [], []
    for _ in range(300):
        n = rng.randint(1, 12)
        gold = tc.OUTSIDE
        gold_row = []
        for _ in range(n):  # valid IOB2
            kind = rng.choice(["LOC", "ORG", "PER"])
            choice = rng.random()
            gold = ("O" if choice < 0.5 else f"B-{kind}" if choice < 0.75 or gold == "O"
                    else "I-" + gold[2:])
            gold_row.append(gold)
        # predictions: the gold tags with noise, including I- after O (chunked as conlleval)
        predicted_row = [t if rng.random() < 0.7 else rng.choice(LABELS) for t in gold_row]
        gold_rows.append(gold_row)
        predicted_rows.append(predicted_row)
    flat_gold = tf.constant([LABELS.index(t) for row in gold_rows for t in row], tf.int64)
    flat_predicted = tf.constant([LABELS.index(t) for row in predicted_rows for t in row],
                                 tf.int64)
    rows = tf.constant([i for i, row in enumerate(gold_rows) for _ in row], tf.int64)
    matched, predicted, gold = (t.numpy() for t in tc.entity_counts(
        flat_gold, flat_predicted, rows, len(gold_rows), LABELS))
    ours = entity_metrics.entity_scores(matched, predicted, gold)
    assert ours["precision"] == pytest.approx(precision_score(gold_rows, predicted_rows))
    assert ours["recall"] == pytest.approx(recall_score(gold_rows, predicted_rows))
    assert ours["f1"] == pytest.approx(f1_score(gold_rows, predicted_rows))
    report = classification_report(gold_rows, predicted_rows, output_dict=True)
    for i, kind in enumerate(tc.entity_type_names(LABELS)):
        by_type = entity_metrics.entity_scores(matched[:, i], predicted[:, i], gold[:, i])
        assert by_type["f1"] == pytest.approx(report[kind]["f1-score"])
        assert gold[:, i].sum() == report[kind]["support"]
    # per row, too: the counts of each sentence are its own
    for r in (0, 17, 123):
        assert gold[r].sum() == len(_seqeval_entities(gold_rows[r]))
        assert predicted[r].sum() == len(_seqeval_entities(predicted_rows[r]))


TEXTS = ["Ada Lovelace met Charles Babbage in London in 1833.",
         "Zoë Ångström flew from Zürich to Москва via 東京都 — at 9:30!",
         "  leading  spaces,\ttabs\nand a zero\u200bwidth space 🙂 emoji ",
         "",
         " ".join(["word"] * 150) + " Kensington"]


def _letter(char):
    """A character of a BERT word of several characters (CJK ones are words of their own)."""
    return char.isalnum() and not "\u4e00" <= char <= "\u9fff"


def test_served_entities_have_exact_character_offsets(model, tokenizer):
    entities = tce.entities_fn(model, tokenizer, LABELS, 16, 4)
    out = {k: v.numpy() for k, v in entities(tf.constant(TEXTS)).items()}
    total = 0
    for i, text in enumerate(TEXTS):
        count = out["entity_count"][i]
        total += count
        previous_end = 0
        for j in range(count):
            start, end = out["start"][i, j], out["end"][i, j]
            assert 0 <= previous_end <= start < end <= len(text)
            assert out["entity_text"][i, j].decode() == text[start:end]
            # a span starts and ends at a word's edge: never inside a word of letters
            assert start == 0 or not (_letter(text[start - 1]) and _letter(text[start]))
            assert end == len(text) or not (_letter(text[end - 1]) and _letter(text[end]))
            assert out["entity_type"][i, j].decode() in ("LOC", "ORG", "PER")
            assert 0 < out["score"][i, j] <= 1
            previous_end = end
        assert all(out["start"][i, count:] == -1)
        assert all(t == b"" for t in out["entity_type"][i, count:])
    assert total > 0  # the random head tags something, so the offsets are exercised
    assert out["entity_count"][3] == 0


def test_tagging_tokens_and_text_agree(model, tokenizer):
    """The same words give the same tags whether sent pre-split or as raw text."""
    text = "Ada Lovelace met Charles Babbage in London ."
    tags = tce.tag_tokens_fn(model, tokenizer, LABELS, 16, 4)(
        tf.constant([text.split(" ") + [""]]))["tags"].numpy()[0]
    assert tags[-1] == b""
    entities = tce.entities_fn(model, tokenizer, LABELS, 16, 4)(tf.constant([text]))
    words = text.split(" ")
    starts = np.cumsum([0] + [len(w) + 1 for w in words])[:-1]
    spans = []
    current = None
    for word, start, tag in zip(words, starts, (t.decode() for t in tags[:-1])):
        kind = tag[2:] if tag != "O" else None
        if current and kind == current[0] and not tag.startswith("B-"):
            current[2] = start + len(word)
        else:
            if current and current[0]:
                spans.append(tuple(current))
            current = [kind, start, start + len(word)]
    if current and current[0]:
        spans.append(tuple(current))
    count = entities["entity_count"].numpy()[0]
    served = [(t.decode(), s, e) for t, s, e in zip(entities["entity_type"].numpy()[0][:count],
                                                    entities["start"].numpy()[0][:count],
                                                    entities["end"].numpy()[0][:count])]
    assert served == spans


def test_the_export_loads_as_tf_serving_loads_it(model, tokenizer, tmp_path):
    import tensorflow_text  # noqa: F401

    export_dir = str(tmp_path / "1")
    tce.export_token_classifier(model, tokenizer, export_dir, LABELS, 16, 4, "ner", VOCAB)
    expected = tce.entities_fn(model, tokenizer, LABELS, 16, 4)(tf.constant(TEXTS))
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        signature = meta.signature_def["serving_default"]
        fetches = {k: v.name for k, v in signature.outputs.items()}
        got = session.run(fetches, {signature.inputs["text"].name: TEXTS})
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value.numpy()) if value.dtype != tf.float32 \
            else np.testing.assert_allclose(got[key], value.numpy(), atol=1e-5)
    assert os.path.isfile(os.path.join(export_dir, "assets.extra", "tf_serving_warmup_requests"))
    assert set(meta.signature_def) >= {"serving_default", "tag_tokens", "tagging_eval"}


def test_the_training_reader_gives_every_window_once_per_pass(tmp_path):
    """The Trainer's reader (token_classifier_trainer.tagging_dataset): each sentence's windows
    become rows, shuffled over the whole split (inputs.uniform_shuffle), each row once per
    pass with its own labels."""
    from models.core import features
    from models.token_classification.trainer import tagging_dataset

    seq, path = 6, str(tmp_path / "windows.gz")
    rows = {}
    with tf.io.TFRecordWriter(path, "GZIP") as writer:
        for sentence in range(40):
            windows = 1 + sentence % 3
            ids = [[1000 * sentence + 10 * w + i for i in range(seq)] for w in range(windows)]
            labels = [[(row[0] + i) % len(LABELS) for i in range(seq)] for row in ids]
            rows.update({row[0]: lab for row, lab in zip(ids, labels)})
            example = tf.train.Example(features=tf.train.Features(feature={
                features.TOKEN_IDS: tf.train.Feature(int64_list=tf.train.Int64List(
                    value=sum(ids, []))),
                tc.LABEL_IDS: tf.train.Feature(int64_list=tf.train.Int64List(
                    value=sum(labels, [])))}))
            writer.write(example.SerializeToString())
    seen = []
    for x, y in tagging_dataset([path], seq, batch_size=7, repeat=False, seed=3):
        for ids, labels in zip(x["token_ids"].numpy(), y.numpy()):
            assert labels.tolist() == rows[int(ids[0])]
            seen.append(int(ids[0]))
    assert sorted(seen) == sorted(rows) and len(rows) == 14 * 1 + 13 * 2 + 13 * 3
    assert seen != sorted(seen)  # shuffled


def test_the_entity_f1_training_metric_equals_seqeval_over_windows():
    """EntityF1 (the search's objective for named entities) against seqeval's f1_score on the
    same tags: random IOB2 windows, labels on some positions only (IGNORE elsewhere)."""
    import numpy as np
    from seqeval.metrics import f1_score

    from models.token_classification.model import IGNORE, EntityF1

    labels = ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]
    rng = np.random.default_rng(3)
    gold = rng.integers(0, len(labels), size=(6, 20))
    predicted = np.where(rng.random((6, 20)) < 0.7, gold, rng.integers(0, 5, size=(6, 20)))
    labelled = rng.random((6, 20)) < 0.8
    y_true = np.where(labelled, gold, IGNORE)
    logits = np.eye(len(labels), dtype="float32")[predicted]
    metric = EntityF1(labels)
    metric.update_state(y_true[:3], logits[:3])
    metric.update_state(y_true[3:], logits[3:])  # accumulated over batches
    expected = f1_score([[labels[t] for t in row[mask]] for row, mask in zip(gold, labelled)],
                        [[labels[t] for t in row[mask]] for row, mask in zip(predicted, labelled)])
    assert abs(float(metric.result()) - expected) < 1e-6
    assert 0.2 < expected < 0.95
