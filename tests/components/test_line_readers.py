"""Every reader of one-text-per-line files a user gives splits at "\n" (and "\r\n") only, as
the labelled and corpus readers do (issue 21): U+2028, U+2029, U+0085 and form feeds are
characters of a text, not line ends."""

import tensorflow as tf

from components.teacher_scores.executor import unlabelled_examples
from models.core import features
from models.tokenizers.wordpiece import read_vocab
from pipeline.jobs.export_tflite import calibration_texts
from serving.predict import read_lines

TEXTS = ["First text.", "Second\u2028still second.", "Third\x85third.", "Fourth\u2029and\x0cfour."]


def _write(tmp_path, name="texts.txt"):
    path = tmp_path / name
    path.write_bytes(("\r\n".join(TEXTS) + "\r\n\r\n").encode("utf-8"))
    return str(path)


def test_unlabelled_text_for_distillation(tmp_path):
    examples = [tf.train.Example.FromString(e) for e in unlabelled_examples(_write(tmp_path))]
    assert [e.features.feature[features.TEXT].bytes_list.value[0].decode() for e in examples] == TEXTS


def test_calibration_texts_for_tflite(tmp_path):
    assert calibration_texts(None, _write(tmp_path)) == TEXTS


def test_predict_input_file(tmp_path):
    assert list(read_lines(_write(tmp_path))) == TEXTS + [""]


def test_vocabulary_lines(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes("[PAD]\r\n[UNK]\r\nx\u2028y\r\n\x85\n".encode("utf-8"))
    assert read_vocab(str(path)) == ["[PAD]", "[UNK]", "x\u2028y", "\x85"]


def test_predict_input_file_compressed_with_a_byte_order_mark(tmp_path):
    import gzip

    path = tmp_path / "texts.txt.gz"
    path.write_bytes(gzip.compress(("\ufeff" + "\n".join(TEXTS) + "\n").encode("utf-8")))
    assert list(read_lines(str(path))) == TEXTS
