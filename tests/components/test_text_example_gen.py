"""TextExampleGen: corpus reader/validation and the real executor on a tiny corpus."""

import glob
import os

import pytest
import tensorflow as tf
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from components.text_example_gen import (CorpusError, TextExampleGen, check_corpus_dir,
                                         read_documents)
from components.text_example_gen.executor import Executor
from models.core import features


def _write(path, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
        f.write(data)
    return str(path)


def test_read_documents_splits_blank_line_blocks(tmp_path):
    path = _write(tmp_path / "a.txt",
                  "\n\n  First doc, line one.\nline two  \n\n\n \t\nSecond doc.\n  \nThird — naïve.")
    assert read_documents(path) == ["First doc, line one.\nline two", "Second doc.",
                                    "Third — naïve."]


def test_read_documents_crlf_and_bom(tmp_path):
    path = _write(tmp_path / "w.txt", "\ufeffOne\r\n\r\nTwo\r\n".encode("utf-8"))
    assert read_documents(path) == ["One", "Two"]


def test_missing_dir(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        check_corpus_dir(str(tmp_path / "nope"))


def test_not_a_dir(tmp_path):
    path = _write(tmp_path / "a.txt", "text")
    with pytest.raises(CorpusError, match="not a directory"):
        check_corpus_dir(path)


def test_empty_dir_and_hidden_files_ignored(tmp_path):
    _write(tmp_path / ".hidden", "text")
    os.mkdir(tmp_path / "sub")
    with pytest.raises(CorpusError, match="has no files"):
        check_corpus_dir(str(tmp_path))


def test_binary_file(tmp_path):
    path = _write(tmp_path / "img.bin", b"GIF89a\x00\x01\x02")
    with pytest.raises(CorpusError, match="binary") as e:
        read_documents(path)
    assert "img.bin" in str(e.value)


def test_non_utf8_names_file_and_offset(tmp_path):
    path = _write(tmp_path / "latin1.txt", "café au lait".encode("latin-1"))
    with pytest.raises(CorpusError) as e:
        read_documents(path)
    msg = str(e.value)
    assert "latin1.txt" in msg and "offset 3" in msg and "convert it to UTF-8" in msg


def test_whitespace_only_file(tmp_path):
    path = _write(tmp_path / "blank.txt", " \n\n\t \n")
    with pytest.raises(CorpusError, match="no documents"):
        read_documents(path)


def test_check_corpus_dir_reports_every_bad_file(tmp_path):
    good = _write(tmp_path / "b_good.txt", "Hello.\n\nWorld.")
    _write(tmp_path / "a_bad.txt", b"\xff\xfe bad")
    _write(tmp_path / "c_empty.txt", "")
    with pytest.raises(CorpusError) as e:
        check_corpus_dir(str(tmp_path))
    msg = str(e.value)
    assert "2 bad file(s)" in msg and "a_bad.txt" in msg and "c_empty.txt" in msg
    assert "b_good.txt" not in msg
    os.remove(tmp_path / "a_bad.txt")
    os.remove(tmp_path / "c_empty.txt")
    assert check_corpus_dir(str(tmp_path)) == [good]


def test_component_split_config(tmp_path):
    gen = TextExampleGen(str(tmp_path), eval_buckets=2)
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(gen.exec_properties["output_config"], output_config)
    splits = {s.name: s.hash_buckets for s in output_config.split_config.splits}
    assert splits == {"train": 8, "eval": 2}
    assert gen.exec_properties["input_base"] == str(tmp_path)
    with pytest.raises(ValueError, match="eval_buckets"):
        TextExampleGen(str(tmp_path), eval_buckets=10)


def _run_executor(corpus, out_dir):
    examples = standard_artifacts.Examples()
    examples.uri = str(out_dir)
    gen = TextExampleGen(str(corpus))
    exec_properties = {
        "input_base": str(corpus),
        "input_config": gen.exec_properties["input_config"],
        "output_config": gen.exec_properties["output_config"],
        "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE,
    }
    Executor().Do({}, {"examples": [examples]}, exec_properties)
    return examples


def test_executor_writes_examples(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    docs_a = [f"Document {i} of file a.\nIt has two lines." for i in range(20)]
    _write(corpus / "a.txt", "\n\n".join(docs_a) + "\n")
    _write(corpus / "b.txt", "Only one document in b, ünïcödé.\n")
    _write(corpus / ".DS_Store", b"\x00\x00binary junk")  # hidden: ignored
    examples = _run_executor(corpus, tmp_path / "out")

    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "eval"]
    got = []
    for split in ("train", "eval"):
        files = glob.glob(str(tmp_path / "out" / f"Split-{split}" / "*.gz"))
        assert files, split
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            ex = tf.train.Example.FromString(record.numpy())
            got.append((ex.features.feature[features.TEXT].bytes_list.value[0].decode(),
                        ex.features.feature[features.SOURCE].bytes_list.value[0].decode()))
    expected = [(d, "a.txt") for d in docs_a] + [("Only one document in b, ünïcödé.", "b.txt")]
    assert sorted(got) == sorted(expected)


def test_executor_rejects_bad_file(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _write(corpus / "a.txt", "Fine.\n")
    _write(corpus / "bad.txt", "ok then \xe9".encode("latin-1"))
    with pytest.raises(CorpusError, match="bad.txt"):
        _run_executor(corpus, tmp_path / "out")


# --- issue 21: every file read whole ----------------------------------------------------------

def _nested_corpus(root):
    """notes.txt at the top and three years of files below it (a .gz and a .bz2 among them),
    plus hidden entries that must be skipped and said so."""
    import bz2
    import gzip

    root.mkdir()
    _write(root / "notes.txt", "Top-level note.\n\nSecond top-level note.\n")
    documents = {"notes.txt": ["Top-level note.", "Second top-level note."]}
    for year in ("2019", "2020", "2021"):
        (root / year).mkdir()
        docs = [f"Report {i} of {year}.\nIt goes on." for i in range(5)]
        _write(root / year / "reports.txt", "\n\n".join(docs) + "\n")
        documents[f"{year}/reports.txt"] = docs
    (root / "2021" / "deep").mkdir()
    _write(root / "2021" / "deep" / "old.txt.gz", gzip.compress("Gzipped one.\n\nGzipped two.\n".encode()))
    documents["2021/deep/old.txt.gz"] = ["Gzipped one.", "Gzipped two."]
    _write(root / "2020" / "extra.txt.bz2", bz2.compress("Bzipped, naïve.\n".encode()))
    documents["2020/extra.txt.bz2"] = ["Bzipped, naïve."]
    (root / ".git").mkdir()
    _write(root / ".git" / "HEAD", "ref: refs/heads/main\n")
    _write(root / "2019" / ".DS_Store", b"\x00\x00junk")
    return documents


def test_corpus_read_recursively_with_counts_and_skipped(tmp_path):
    from components.text_example_gen.reader import inspect_corpus_dir

    documents = _nested_corpus(tmp_path / "corpus")
    report = inspect_corpus_dir(str(tmp_path / "corpus"))
    read = {os.path.relpath(f.path, tmp_path / "corpus"): f.documents for f in report.files}
    assert read == {name: len(docs) for name, docs in documents.items()}
    info = report.to_json()
    assert info["files"] == 6 and info["documents"] == 20
    assert info["bytes"] == sum(len(("\n\n".join(d) + "\n").encode()) for d in documents.values())
    assert report.skipped == [str(tmp_path / "corpus" / ".git") + "/",
                              str(tmp_path / "corpus" / "2019" / ".DS_Store")]
    assert read_documents(str(tmp_path / "corpus" / "2021" / "deep" / "old.txt.gz")) == [
        "Gzipped one.", "Gzipped two."]


def test_corpus_archives_refused_by_name(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    _write(corpus / "a.txt", "Fine.\n")
    _write(corpus / "sub" / "more.zip", b"PK\x03\x04rest")
    _write(corpus / "sub" / "more.tar.gz", b"\x1f\x8b junk")
    _write(corpus / "broken.gz", b"not gzip at all")
    with pytest.raises(CorpusError) as error:
        check_corpus_dir(str(corpus))
    message = str(error.value)
    assert "3 bad file(s)" in message
    assert "more.zip: a .zip file, which lmpipe does not read" in message
    assert "more.tar.gz: a .tar.gz file" in message
    assert "broken.gz: cannot be decompressed as .gz" in message


def test_documents_split_at_line_feeds_only(tmp_path):
    # U+2028/U+2029/U+0085 and form feeds are characters of a line, not line ends; \r\n is one.
    text = "One\u2028still one\x85and\x0cone.\r\n\r\nTwo\u2029two.\r\n"
    path = _write(tmp_path / "a.txt", text)
    assert read_documents(path) == ["One\u2028still one\x85and\x0cone.", "Two\u2029two."]


def test_executor_reads_nested_corpus_and_counts_splits(tmp_path):
    import json

    from components.split_counts import COUNTS_FILE, COUNTS_PROPERTY

    documents = _nested_corpus(tmp_path / "corpus")
    examples = _run_executor(tmp_path / "corpus", tmp_path / "out")
    got, per_split = [], {}
    for split in ("train", "eval"):
        files = glob.glob(str(tmp_path / "out" / f"Split-{split}" / "*.gz"))
        texts = []
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            ex = tf.train.Example.FromString(record.numpy())
            texts.append(ex.features.feature[features.TEXT].bytes_list.value[0].decode())
            got.append((texts[-1], ex.features.feature[features.SOURCE].bytes_list.value[0].decode()))
        per_split[split] = {"examples": len(texts), "bytes": sum(len(t.encode()) for t in texts)}
    assert sorted(got) == sorted((d, name) for name, docs in documents.items() for d in docs)
    with open(tmp_path / "out" / COUNTS_FILE) as f:
        assert json.load(f) == per_split
    assert json.loads(examples.get_string_custom_property(COUNTS_PROPERTY)) == per_split
    assert sum(s["examples"] for s in per_split.values()) == 20
    assert not glob.glob(str(tmp_path / "out" / ".split_counts-*"))


def test_executor_fails_when_the_splits_miss_examples(tmp_path):
    """A runner that loses an element (as issue 26 found Beam's DaskRunner does) must not give
    a pipeline examples from part of the corpus: the ExampleGen fails, naming both counts."""
    import apache_beam as beam

    from components.split_counts import IncompleteReadError
    from components.text_example_gen import executor as text_executor

    class LossyExecutor(Executor):
        def GetInputSourceToExamplePTransform(self):
            @beam.ptransform_fn
            def lossy(pipeline, exec_properties, split_pattern):
                return (pipeline | text_executor._TextToExample(exec_properties, split_pattern)
                        | beam.Filter(lambda ex: b"Report 3 of 2020" not in
                                      ex.features.feature[features.TEXT].bytes_list.value[0]))
            return lossy

    _nested_corpus(tmp_path / "corpus")
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "out")
    gen = TextExampleGen(str(tmp_path / "corpus"))
    exec_properties = {key: gen.exec_properties[key] for key in ("input_config", "output_config")}
    exec_properties.update(input_base=str(tmp_path / "corpus"),
                           output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE)
    with pytest.raises(IncompleteReadError, match="the input files hold 20 examples, but the "
                                                  "splits written to .* hold 19"):
        LossyExecutor().Do({}, {"examples": [examples]}, exec_properties)


def test_a_change_deep_in_the_corpus_changes_the_cache_key(tmp_path):
    """TFX fingerprints only input_base/*: the component's custom config carries a digest of
    every file, so an edit in a subdirectory reruns ExampleGen instead of reusing old examples."""
    _nested_corpus(tmp_path / "corpus")
    before = TextExampleGen(str(tmp_path / "corpus")).exec_properties["custom_config"]
    assert before == TextExampleGen(str(tmp_path / "corpus")).exec_properties["custom_config"]
    with open(tmp_path / "corpus" / "2020" / "reports.txt", "a", encoding="utf-8") as f:
        f.write("\nOne more report.\n")
    after = TextExampleGen(str(tmp_path / "corpus")).exec_properties["custom_config"]
    assert "corpus_fingerprint" in str(after) and after != before


def test_a_directory_link_back_up_the_tree_is_read_once(tmp_path):
    from components.text_example_gen.reader import walk_corpus

    _nested_corpus(tmp_path / "corpus")
    os.symlink(tmp_path / "corpus", tmp_path / "corpus" / "2019" / "loop")
    files, skipped = walk_corpus(str(tmp_path / "corpus"))
    assert len(files) == 6
    loop = str(tmp_path / "corpus" / "2019" / "loop")
    assert skipped[-1] == loop + "/ (a link to a directory already read)"
