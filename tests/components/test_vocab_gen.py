"""WordPiece vocabulary learner, the real Beam executor, and the anomalies gate."""

import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from components.anomalies import DataValidationError, raise_if_anomalous
from components.types import WordPieceVocab
from components.vocab_gen import WordPieceVocabGen, count_words, learn_vocab
from components.vocab_gen.executor import Executor
from models.core import features
from models.core.features import VOCAB_FILE
from models.tokenizers.wordpiece import Tokenizer, pretokenize, read_vocab

CORPUS = "/work/shared/datasets/corpus/news.txt"
INLINE = """The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away.

Researchers said on Tuesday that the new vaccine was effective in early trials, and that
larger studies would begin next year. "We are cautiously optimistic," one of them said.

Heavy rain flooded several streets in the city centre, and the fire service evacuated
residents from homes near the river. Officials said the water was receding by evening.
"""


def _documents():
    if os.path.exists(CORPUS):
        with open(CORPUS, encoding="utf-8") as f:
            text = f.read(50_000)
        text = text[: text.rfind("\n\n")]  # whole documents only
    else:
        text = INLINE * 20
    return [d.strip() for d in text.split("\n\n") if d.strip()]


@pytest.fixture(scope="module")
def docs():
    return _documents()


@pytest.fixture(scope="module")
def vocab(docs):
    return learn_vocab(list(count_words(docs).items()), vocab_size=600, lower_thresh=2)


def test_count_words_uses_pretokenize():
    counts = count_words(["Héllo, world!", b"hello again"])
    assert counts == {"hello": 2, ",": 1, "world": 1, "!": 1, "again": 1}


def test_vocab_reserved_first_and_size(vocab):
    assert vocab[:5] == list(features.RESERVED_TOKENS)
    assert len(vocab) == 600  # exactly the requested size
    assert len(set(vocab)) == len(vocab)
    assert vocab.count(features.MASK) == 1


def test_every_seen_character_is_in_the_vocabulary_in_both_forms(docs, vocab):
    chars = {ch for word in count_words(docs) for ch in word}
    assert all(ch in vocab and "##" + ch in vocab for ch in chars)
    # So no character of the corpus becomes [UNK], wherever it sits in a word.
    ids = Tokenizer(vocab).tokenize(tf.constant(docs)).flat_values.numpy()
    assert (ids == features.UNK_ID).sum() == 0


def test_learned_pieces_follow_their_usage(docs, vocab):
    counts = count_words(docs)
    chars = {ch for word in counts for ch in word}
    learned = vocab[5 + 2 * len(chars):]
    assert learned and not any(t in chars or t[2:] in chars and t.startswith("##")
                               for t in learned)
    # Most used first: the first learned piece is a whole frequent word.
    assert learned[0] in {w for w, _ in counts.most_common(50)}


def test_the_same_counts_give_the_same_vocabulary_in_another_process(docs, vocab, tmp_path):
    # The trainer's hash maps are seeded per process; only a new process shows a difference.
    counts_file = tmp_path / "counts.json"
    counts_file.write_text(json.dumps(count_words(docs)))
    script = ("import json, sys; from components.vocab_gen import learn_vocab; "
              "c = json.load(open(sys.argv[1])); "
              "print(json.dumps(learn_vocab(c.items(), vocab_size=600, lower_thresh=2)))")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", script, str(counts_file)], cwd=repo,
                             capture_output=True, text=True, check=True).stdout
        assert json.loads(out.strip().splitlines()[-1]) == vocab


def test_frequent_words_are_fed_in_chunks_with_the_same_result(docs, vocab, monkeypatch):
    # A word counted millions of times is fed as several strings, not one huge one.
    from components.vocab_gen import learner

    assert max(count_words(docs).values()) > 7
    monkeypatch.setattr(learner, "CHUNK", 7)
    assert list(learner._repeated([("the", 16)])) == ["the " * 6 + "the"] * 2 + ["the the"]
    assert learn_vocab(list(count_words(docs).items()), vocab_size=600, lower_thresh=2) == vocab


def test_tokenizer_low_unk_rate_and_round_trip(docs, vocab):
    tok = Tokenizer(vocab)
    ids = tok.tokenize(tf.constant(docs)).flat_values.numpy()
    assert (ids == features.UNK_ID).mean() < 0.01

    sentence = "The Fire Service said [MASK] residents were evacuated, near Goulburn."
    ids = tok.tokenize(tf.constant([sentence])).to_list()[0]
    assert features.MASK_ID in ids
    assert features.UNK_ID not in ids
    pieces = [vocab[i] for i in ids]
    words = []
    for p in pieces:
        if p.startswith("##"):
            words[-1] += p[2:]
        else:
            words.append(p)
    expected = [w.decode() for w in pretokenize(tf.constant([sentence.replace("[MASK] ", "")]))[0].numpy()]
    assert [w for w in words if w != features.MASK] == expected


def test_vocab_size_too_small_raises(docs):
    counts = list(count_words(docs[:3]).items())
    with pytest.raises(ValueError, match="reserved tokens"):
        learn_vocab(counts, vocab_size=5, lower_thresh=2)
    with pytest.raises(ValueError, match="too small"):
        learn_vocab(counts, vocab_size=20, lower_thresh=2)


def test_no_words_raises():
    with pytest.raises(ValueError, match="no words found in split 'train'"):
        learn_vocab([], vocab_size=100, lower_thresh=2)


def _write_examples(uri, texts, split="train"):
    split_dir = os.path.join(uri, f"Split-{split}")
    os.makedirs(split_dir)
    with tf.io.TFRecordWriter(os.path.join(split_dir, "data_tfrecord-00000-of-00001.gz"),
                              options="GZIP") as w:
        for t in texts:
            w.write(tf.train.Example(features=tf.train.Features(feature={
                features.TEXT: tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[t.encode()])),
                features.SOURCE: tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[b"news.txt"])),
            })).SerializeToString())


def _anomalies_artifact(uri, anomalous):
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(uri)
    artifact.split_names = artifact_utils.encode_split_names(["train", "eval"])
    for split in ("train", "eval"):
        anomalies = anomalies_pb2.Anomalies()
        if anomalous and split == "eval":
            info = anomalies.anomaly_info[features.TEXT]
            info.short_description = "Column dropped"
            info.description = "The feature was present in fewer examples than expected."
            info.severity = anomalies_pb2.AnomalyInfo.ERROR
        os.makedirs(os.path.join(uri, f"Split-{split}"))
        io_utils.write_bytes_file(os.path.join(uri, f"Split-{split}", "SchemaDiff.pb"),
                                  anomalies.SerializeToString())
    return artifact


def test_anomalies_gate(tmp_path):
    raise_if_anomalous(_anomalies_artifact(str(tmp_path / "clean"), anomalous=False))
    with pytest.raises(DataValidationError) as e:
        raise_if_anomalous(_anomalies_artifact(str(tmp_path / "bad"), anomalous=True))
    msg = str(e.value)
    assert "split 'eval'" in msg and "'text'" in msg and "Column dropped" in msg
    assert "fewer examples" in msg and "schema" in msg
    assert "split 'train'" not in msg


def _run(tmp_path, docs, anomalies=None, vocab_size=400):
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    if not os.path.exists(examples.uri):
        _write_examples(examples.uri, docs)
    out = WordPieceVocab()
    out.uri = str(tmp_path / "vocab")
    inputs = {"examples": [examples]}
    if anomalies is not None:
        inputs["anomalies"] = [anomalies]
    Executor().Do(inputs, {"vocabulary": [out]},
                  {"vocab_size": vocab_size, "lower_thresh": 2})
    return out


def test_executor_writes_vocab(tmp_path, docs):
    docs = docs[:60]
    clean = _anomalies_artifact(str(tmp_path / "anomalies"), anomalous=False)
    out = _run(tmp_path, docs, anomalies=clean)
    vocab = read_vocab(os.path.join(out.uri, VOCAB_FILE))
    assert vocab[:5] == list(features.RESERVED_TOKENS)
    assert out.get_int_custom_property("vocab_size") == len(vocab) <= 400
    # Same result as the in-process learner on the same counts.
    assert vocab == learn_vocab(list(count_words(docs).items()), 400, 2)


def test_executor_stops_on_anomalies_before_work(tmp_path, docs):
    bad = _anomalies_artifact(str(tmp_path / "anomalies"), anomalous=True)
    with pytest.raises(DataValidationError, match="Column dropped"):
        _run(tmp_path, docs[:5], anomalies=bad)
    assert not os.path.exists(tmp_path / "vocab" / VOCAB_FILE)


def test_component_spec():
    from tfx import types
    examples = types.Channel(type=standard_artifacts.Examples)
    comp = WordPieceVocabGen(examples=examples, vocab_size=8000)
    assert comp.exec_properties == {"vocab_size": 8000, "lower_thresh": 2}
    assert comp.outputs["vocabulary"].type is WordPieceVocab
    assert "anomalies" not in comp.inputs  # optional, left out
    anomalies = types.Channel(type=standard_artifacts.ExampleAnomalies)
    comp = WordPieceVocabGen(examples=examples, vocab_size=8000, lower_thresh=5,
                             anomalies=anomalies)
    assert comp.inputs["anomalies"] is anomalies
    assert comp.exec_properties["lower_thresh"] == 5
    with pytest.raises(ValueError, match="vocab_size=5 leaves no room"):
        WordPieceVocabGen(examples=examples, vocab_size=5)  # before any pipeline work


def test_byte_level_bpe_from_counts_is_the_trainers_on_the_raw_text():
    """Counting GPT-2's words (as the Beam step does, batch by batch) and learning from the
    counts gives exactly the vocabulary and merges Hugging Face's BpeTrainer learns from the
    raw text with the ByteLevel pre-tokenizer."""
    import collections
    import json as json_lib

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from components.vocab_gen import learner
    from models.tokenizers import bpe

    corpus = os.path.join(os.path.dirname(__file__), "..", "..", "data", "corpus", "news.txt")
    with open(corpus, encoding="utf-8") as f:
        texts = f.read(120_000).split("\n") + ["日本語 😀 café   spaces\tand\ttabs"]
    counts = collections.Counter()
    for start in range(0, len(texts), 100):  # batches, merged as the CombineFn does
        counts.update(learner.count_byte_level_words(texts[start:start + 100]))
    vocab, merges = learner.learn_bpe(counts.items(), vocab_size=600)
    bpe.check_bpe(vocab, merges)
    assert len(vocab) == 600 and vocab[bpe.EOT] == 0

    reference = Tokenizer(models.BPE())
    reference.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    reference.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=600, min_frequency=2, special_tokens=[bpe.EOT], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    state = json_lib.loads(reference.to_str())["model"]
    assert vocab == state["vocab"]
    assert merges == [m if isinstance(m, str) else " ".join(m) for m in state["merges"]]


def test_byte_level_bpe_refuses_a_vocabulary_below_the_byte_alphabet():
    from components.vocab_gen import learner

    with pytest.raises(ValueError, match="too small for byte-level BPE"):
        learner.learn_bpe([("Ġthe", 5)], vocab_size=200)
