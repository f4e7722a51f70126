"""LabelledExampleGen: reader/validation for CSV/TSV/JSONL, the curated schema with TFDV, and
the real executor (user splits and deterministic hash splits) on tiny files."""

import glob
import os

import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from components.labelled_example_gen import (LabelledDataError, LabelledExampleGen,
                                             check_labelled_data, list_data_files,
                                             read_labelled, user_splits)
from components.labelled_example_gen.executor import Executor, columns
from models.core import features
from tests.conftest import REPO

SCHEMA = os.path.join(REPO, "schemas", "labelled.pbtxt")
SAMPLE = os.path.join(REPO, "data", "sentiment", "rotten_tomatoes_sample.tsv")


def _write(path, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode, **({} if mode == "wb" else {"encoding": "utf-8", "newline": ""})) as f:
        f.write(data)
    return str(path)


# --- reader: formats -------------------------------------------------------------------------

def test_read_tsv_keeps_quote_characters(tmp_path):
    path = _write(tmp_path / "a.tsv",
                  'label\ttext\n'
                  'positive\t  A "great" film, 5" tall.  \n'
                  '\n'
                  'negative\t"Dull\n'
                  'positive\tIt\'s fine ""really"" \n')
    assert read_labelled(path) == [(2, 'A "great" film, 5" tall.', "positive"),
                                   (4, '"Dull', "negative"),
                                   (5, 'It\'s fine ""really""', "positive")]


def test_read_csv_with_quoting_and_other_columns(tmp_path):
    path = _write(tmp_path / "a.csv",
                  'id,review,sentiment\r\n'
                  '1,"Good, ""funny"" film",pos\r\n'
                  '2,"two\nlines",neg\r\n'
                  '3,plain, neg \r\n')
    rows = read_labelled(path, text_column="review", label_column="sentiment")
    assert rows == [(2, 'Good, "funny" film', "pos"), (3, "two\nlines", "neg"),
                    (5, "plain", "neg")]


def test_read_jsonl_skips_blank_lines_and_bom(tmp_path):
    path = _write(tmp_path / "a.jsonl",
                  '\ufeff{"text": " Good. ", "label": "positive", "id": 1}\n\n  \n'
                  '{"text": "Bad — naïve.", "label": 0}\n')
    assert read_labelled(path) == [(1, "Good.", "positive"), (4, "Bad — naïve.", "0")]


def test_bundled_sample():
    rows = read_labelled(SAMPLE)
    assert len(rows) == 5000 and rows[0][0] == 2
    assert check_labelled_data(SAMPLE, labels=["negative", "positive"]) == {
        "negative": 2086, "positive": 2914}


# --- reader: errors --------------------------------------------------------------------------

def test_not_utf8_names_file_offset_and_line(tmp_path):
    path = _write(tmp_path / "latin1.tsv", "label\ttext\npositive\tcafé\n".encode("latin-1"))
    with pytest.raises(LabelledDataError) as e:
        read_labelled(path)
    msg = str(e.value)
    assert "latin1.tsv" in msg and "byte offset 23" in msg and "line 2" in msg
    assert "convert the file to UTF-8" in msg


def test_missing_column_lists_columns_and_flag(tmp_path):
    path = _write(tmp_path / "a.tsv", "sentiment\treview\npositive\tGood.\n")
    with pytest.raises(LabelledDataError) as e:
        read_labelled(path)
    msg = str(e.value)
    assert "a.tsv" in msg and "'text'" in msg and "'sentiment', 'review'" in msg
    assert "--text-column" in msg
    with pytest.raises(LabelledDataError, match="no label column 'label'.*--label-column"):
        read_labelled(path, text_column="review")
    assert read_labelled(path, "review", "sentiment") == [(2, "Good.", "positive")]


def test_missing_jsonl_key(tmp_path):
    path = _write(tmp_path / "a.jsonl", '{"text": "ok", "label": "x"}\n{"review": "ok"}\n')
    with pytest.raises(LabelledDataError) as e:
        read_labelled(path)
    msg = str(e.value)
    assert "a.jsonl line 2" in msg and "'text'" in msg and "'review'" in msg
    assert "--text-column" in msg


@pytest.mark.parametrize("content,column", [
    ("label\ttext\npositive\tGood.\nnegative\t   \n", "text"),
    ("label\ttext\npositive\tGood.\n \tBad.\n", "label"),
])
def test_empty_text_or_label(tmp_path, content, column):
    path = _write(tmp_path / "a.tsv", content)
    with pytest.raises(LabelledDataError) as e:
        read_labelled(path)
    msg = str(e.value)
    assert "a.tsv line 3" in msg and f"column '{column}' is empty" in msg


def test_malformed_json_line(tmp_path):
    path = _write(tmp_path / "a.jsonl", '{"text": "ok", "label": "x"}\n{"text": "oops",\n')
    with pytest.raises(LabelledDataError, match=r"a\.jsonl line 2: malformed JSON"):
        read_labelled(path)
    path = _write(tmp_path / "b.jsonl", '["text", "label"]\n')
    with pytest.raises(LabelledDataError, match=r"b\.jsonl line 1: a JSON list, not an object"):
        read_labelled(path)


@pytest.mark.parametrize("name,content,hint", [
    ("a.tsv", "label\ttext\npositive\tGood.\nnegative\tBad.\tworse\n", "tab inside a field"),
    ("a.csv", "label,text\npositive,Good.\nnegative,Bad, worse\n", "unquoted comma"),
])
def test_wrong_number_of_fields(tmp_path, name, content, hint):
    path = _write(tmp_path / name, content)
    with pytest.raises(LabelledDataError) as e:
        read_labelled(path)
    msg = str(e.value)
    assert f"{name} line 3: 3 field(s), but the header has 2" in msg and hint in msg


def test_unsupported_extension_and_empty_file(tmp_path):
    path = _write(tmp_path / "a.txt", "label\ttext\n")
    with pytest.raises(LabelledDataError, match=r"a\.txt: unsupported extension '\.txt'"):
        read_labelled(path)
    with pytest.raises(LabelledDataError, match=r"b\.tsv: is empty"):
        read_labelled(_write(tmp_path / "b.tsv", ""))
    with pytest.raises(LabelledDataError, match=r"c\.tsv: has no data rows"):
        read_labelled(_write(tmp_path / "c.tsv", "label\ttext\n"))


def test_list_data_files(tmp_path):
    with pytest.raises(LabelledDataError, match="does not exist"):
        list_data_files(str(tmp_path / "nope"))
    _write(tmp_path / ".hidden.tsv", "label\ttext\n")
    _write(tmp_path / "notes.txt", "hello")
    os.mkdir(tmp_path / "sub.tsv")
    with pytest.raises(LabelledDataError, match="has no data files"):
        list_data_files(str(tmp_path))
    b = _write(tmp_path / "b.jsonl", "")
    a = _write(tmp_path / "a.TSV", "")
    c = _write(tmp_path / "c.csv", "")
    assert list_data_files(str(tmp_path)) == [a, b, c]
    assert list_data_files(c) == [c]


# --- check_labelled_data ---------------------------------------------------------------------

def test_check_counts_over_all_files(tmp_path):
    _write(tmp_path / "a.tsv", "label\ttext\npositive\tGood.\nnegative\tBad.\n")
    _write(tmp_path / "b.jsonl", '{"text": "Great.", "label": "positive"}\n')
    assert check_labelled_data(str(tmp_path), labels=["negative", "positive"]) == {
        "negative": 1, "positive": 2}


def test_check_reports_every_problem(tmp_path):
    _write(tmp_path / "a.tsv", "label\ttext\npositive\tGood.\nneutral\tMeh.\nnegative\t \n")
    _write(tmp_path / "b.tsv", "label\treview\npositive\tGood.\n")
    _write(tmp_path / "c.jsonl", '{"text": "ok", "label": "negative"}\n{bad\n')
    with pytest.raises(LabelledDataError) as e:
        check_labelled_data(str(tmp_path), labels=["negative", "positive"])
    msg = str(e.value)
    assert msg.startswith(f"4 problem(s) in {tmp_path}:")
    assert ("a.tsv line 3: label column 'label' has 'neutral', which is not one of negative, "
            "positive (the schema's domain); fix the data or add the class there") in msg
    assert "a.tsv line 4: text column 'text' is empty" in msg
    assert "b.tsv: no text column 'text'" in msg
    assert "c.jsonl line 2: malformed JSON" in msg


def test_check_caps_the_listing(tmp_path):
    rows = "".join(f"label{i}\ttext {i}\n" for i in range(25))
    path = _write(tmp_path / "a.tsv", "label\ttext\n" + rows)
    with pytest.raises(LabelledDataError) as e:
        check_labelled_data(path, labels=["negative", "positive"])
    msg = str(e.value)
    assert msg.startswith("25 problem(s)") and "... and 5 more" in msg
    assert msg.count("\n  - ") == 20 and "'label19'" in msg and "'label20'" not in msg


def test_check_one_class(tmp_path):
    path = _write(tmp_path / "a.tsv", "label\ttext\npositive\tGood.\npositive\tGreat.\n")
    with pytest.raises(LabelledDataError) as e:
        check_labelled_data(path, labels=["negative", "positive"])
    assert f"only one class ('positive') in {path}; fine-tuning needs two or more" in str(e.value)


# --- user_splits -----------------------------------------------------------------------------

def test_user_splits(tmp_path):
    _write(tmp_path / "train.tsv", "")
    _write(tmp_path / "eval.tsv", "")
    _write(tmp_path / ".test.tsv", "")  # hidden: ignored
    _write(tmp_path / "README.md", "")  # not a data file: ignored
    assert user_splits(str(tmp_path)) == {"train": "train.*", "eval": "eval.*"}
    _write(tmp_path / "test.jsonl", "")
    assert user_splits(str(tmp_path)) == {"train": "train.*", "eval": "eval.*",
                                          "test": "test.*"}
    assert user_splits(str(tmp_path / "train.tsv")) is None  # a file
    _write(tmp_path / "extra.tsv", "")
    assert user_splits(str(tmp_path)) is None  # not only split files
    os.remove(tmp_path / "extra.tsv")
    os.remove(tmp_path / "eval.tsv")
    assert user_splits(str(tmp_path)) is None  # no eval
    assert user_splits(str(tmp_path / "nope")) is None


# --- schema + TFDV ---------------------------------------------------------------------------

def test_schema_parses_and_tfdv_validates():
    import pandas as pd
    import tensorflow_data_validation as tfdv

    with open(SCHEMA, encoding="utf-8") as f:
        schema = text_format.Parse(f.read(), schema_pb2.Schema())
    assert [d.name for d in schema.string_domain] == ["label"]
    assert list(schema.string_domain[0].value) == ["negative", "positive"]
    label = next(f for f in schema.feature if f.name == features.LABEL)
    assert label.domain == "label" and label.type == schema_pb2.BYTES
    assert {f.name for f in schema.feature} == {features.TEXT, features.LABEL}

    good = pd.DataFrame({features.TEXT: ["Good.", "Bad.", "Great."],
                         features.LABEL: ["positive", "negative", "positive"]})
    anomalies = tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(good), schema)
    assert not anomalies.anomaly_info, anomalies

    bad = pd.DataFrame({features.TEXT: ["Good.", "Meh."],
                        features.LABEL: ["positive", "neutral"]})
    anomalies = tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(bad), schema)
    assert set(anomalies.anomaly_info) == {features.LABEL}
    assert "neutral" in anomalies.anomaly_info[features.LABEL].description


# --- component + real executor ---------------------------------------------------------------

def _run_executor(gen, out_dir):
    examples = standard_artifacts.Examples()
    examples.uri = str(out_dir)
    exec_properties = {key: gen.exec_properties[key] for key in (
        "input_base", "input_config", "output_config", "custom_config")}
    exec_properties["output_data_format"] = example_gen_pb2.FORMAT_TF_EXAMPLE
    Executor().Do({}, {"examples": [examples]}, exec_properties)
    return examples


def _read_splits(examples):
    got = {}
    for split in artifact_utils.decode_split_names(examples.split_names):
        files = glob.glob(os.path.join(examples.uri, f"Split-{split}", "*.gz"))
        got[split] = []
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            ex = tf.train.Example.FromString(record.numpy())
            assert set(ex.features.feature) == {features.TEXT, features.LABEL}
            got[split].append(
                (ex.features.feature[features.TEXT].bytes_list.value[0].decode(),
                 ex.features.feature[features.LABEL].bytes_list.value[0].decode()))
    return got


def test_component_configs(tmp_path):
    path = _write(tmp_path / "reviews.csv", "review,y\nGood,pos\n")
    gen = LabelledExampleGen(path, text_column="review", label_column="y",
                             split_buckets=(6, 3, 1))
    assert gen.exec_properties["input_base"] == str(tmp_path)
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(gen.exec_properties["input_config"], input_config)
    assert [(s.name, s.pattern) for s in input_config.splits] == [("single_split",
                                                                  "reviews.csv")]
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(gen.exec_properties["output_config"], output_config)
    assert {s.name: s.hash_buckets for s in output_config.split_config.splits} == {
        "train": 6, "eval": 3, "test": 1}
    # custom_config reaches the executor as the JSON of a CustomConfig packing a Struct.
    assert isinstance(gen.exec_properties["custom_config"], str)
    assert columns(gen.exec_properties) == ("review", "y", None)
    assert columns({"custom_config": {"text_column": "t"}}) == ("t", "label", None)
    assert columns({}) == ("text", "label", None)

    _write(tmp_path / "more.csv", "review,y\nBad,neg\n")
    gen = LabelledExampleGen(str(tmp_path), split_buckets=(8, 2, 0))
    proto_utils.json_to_proto(gen.exec_properties["input_config"], input_config)
    assert [s.pattern for s in input_config.splits] == ["*.csv"]
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(gen.exec_properties["output_config"], output_config)
    assert [s.name for s in output_config.split_config.splits] == ["train", "eval"]

    with pytest.raises(ValueError, match="split_buckets"):
        LabelledExampleGen(path, split_buckets=(8, 0, 1))
    with pytest.raises(LabelledDataError, match="does not exist"):
        LabelledExampleGen(str(tmp_path / "nope.tsv"))


def test_executor_user_splits(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _write(data / "train.tsv", 'sentiment\treview\npositive\tA "great" film.\n'
                               'negative\tDull.\n')
    _write(data / "eval.jsonl", '{"review": "Fine.", "sentiment": "positive"}\n')
    _write(data / "test.csv", 'review,sentiment\n"Bad, bad",negative\n')
    _write(data / "train.tsv.bak", b"\xff not data")  # matches train.* but is not a data file
    gen = LabelledExampleGen(str(data), text_column="review", label_column="sentiment")
    examples = _run_executor(gen, tmp_path / "out")
    got = _read_splits(examples)
    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "eval", "test"]
    assert sorted(got["train"]) == [('A "great" film.', "positive"), ("Dull.", "negative")]
    assert got["eval"] == [("Fine.", "positive")]
    assert got["test"] == [("Bad, bad", "negative")]


def test_executor_hash_split_is_deterministic(tmp_path):
    rows = [(f"Review number {i}, {'good' if i % 3 else 'bad'} \"film\".",
             "positive" if i % 3 else "negative") for i in range(120)]
    path = _write(tmp_path / "reviews.tsv",
                  "label\ttext\n" + "".join(f"{label}\t{text}\n" for text, label in rows))
    gen = LabelledExampleGen(path)
    first = _read_splits(_run_executor(gen, tmp_path / "out1"))
    assert set(first) == {"train", "eval", "test"} and all(first.values())
    assert sorted(sum(first.values(), [])) == sorted(rows)
    assert len(first["train"]) > len(first["eval"])
    second = _read_splits(_run_executor(gen, tmp_path / "out2"))
    assert {k: sorted(v) for k, v in first.items()} == {k: sorted(v) for k, v in second.items()}


def test_executor_rejects_bad_file(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _write(data / "a.tsv", "label\ttext\npositive\tFine.\n")
    _write(data / "bad.tsv", "label\ttext\nnegative\t\n")
    with pytest.raises(LabelledDataError, match=r"bad\.tsv line 2: text column 'text' is empty"):
        _run_executor(LabelledExampleGen(str(data)), tmp_path / "out")


def test_text_pairs_read_with_their_second_column(tmp_path):
    path = _write(tmp_path / "pairs.tsv", "premise\thypothesis\tlabel\nA man sleeps.\tSomeone rests.\t"
                  "entailment\nA cat.\t\tneutral\n")
    with pytest.raises(LabelledDataError, match="line 3: text pair column 'hypothesis' is empty"):
        read_labelled(str(path), text_column="premise", pair_column="hypothesis")
    path = _write(tmp_path / "pairs.jsonl", '{"p": "A man sleeps.", "h": "Someone rests.", '
                  '"label": "entailment"}\n{"p": "A cat.", "label": "neutral"}\n')
    problems = str(pytest.raises(LabelledDataError, check_labelled_data, str(path), "p",
                                 pair_column="h").value)
    assert "line 2: no text pair key 'h'" in problems and "--text-pair-column" in problems
    gen = LabelledExampleGen(str(path), text_column="p", text_pair_column="h")
    assert columns(gen.exec_properties) == ("p", "label", "h")


# --- issue 21: inputs as users have them --------------------------------------------------------

def test_jsonl_strings_with_unicode_line_separators(tmp_path):
    # What json.dumps(..., ensure_ascii=False) writes: valid JSON, one object per "\n" line.
    import json

    texts = [f"Row {i}." for i in range(8)]
    texts[2] = "Para one.\u2028Para two."
    texts[4] = "Next\x85line (NEL)."
    texts[6] = "Page\u2029break, and a form\x0cfeed."
    lines = [json.dumps({"text": t, "label": "pos" if i % 2 else "neg"}, ensure_ascii=False)
             for i, t in enumerate(texts)]
    lines.insert(7, '{"text": "broken", "label": ')  # line 8: a real error, numbered right
    path = _write(tmp_path / "a.jsonl", "\r\n".join(lines) + "\r\n")
    with pytest.raises(LabelledDataError) as e:
        check_labelled_data(path)
    assert "1 problem(s)" in str(e.value) and "a.jsonl line 8: malformed JSON" in str(e.value)
    lines.pop(7)
    path = _write(tmp_path / "a.jsonl", "\n".join(lines) + "\n")
    rows = read_labelled(path)
    assert [r[1] for r in rows] == texts and [r[0] for r in rows] == list(range(1, 9))


@pytest.mark.parametrize("name,sep", [("a.tsv", "\t"), ("a.csv", ",")])
def test_delimited_files_keep_unicode_line_separators(tmp_path, name, sep):
    path = _write(tmp_path / name, f"label{sep}text\npos{sep}One\u2028two\x85three.\nneg{sep}Four.\n")
    assert read_labelled(path) == [(2, "One\u2028two\x85three.", "pos"), (3, "Four.", "neg")]


PANDAS_TSV = ('label\ttext\n'
              'positive\tPlain review.\n'
              'negative\t"Boring: a stray quote at the start.\n'
              'positive\t"Quoted title" and more.\n'
              'positive\t"Superb: the critic wrote ""a triumph, truly"" and meant it."\n'
              'negative\t"""Dull"" was the word."\n')


def test_tsv_with_csv_style_quoting_is_unquoted(tmp_path):
    from components.labelled_example_gen.reader import inspect_labelled_data

    path = _write(tmp_path / "quotes.tsv", PANDAS_TSV)
    report = inspect_labelled_data(path)
    assert [r[1] for r in read_labelled(path)] == [
        "Plain review.", '"Boring: a stray quote at the start.', '"Quoted title" and more.',
        'Superb: the critic wrote "a triumph, truly" and meant it.', '"Dull" was the word.']
    note, = report.notes
    assert "quotes.tsv: 2 field(s) in CSV-style quoting" in note and "first on line 5" in note
    assert "--tsv-quoting none" in note
    # none: every quote as written
    assert read_labelled(path, tsv_quoting="none")[3][1] == (
        '"Superb: the critic wrote ""a triumph, truly"" and meant it."')


def test_tsv_quoting_csv_reads_tabs_and_newlines_in_quoted_fields(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"label": ["pos", "neg", "pos"],
                          "text": ['Tab\there "and" quotes', "two\nlines", "plain"]})
    path = str(tmp_path / "pandas.tsv")
    frame.to_csv(path, sep="\t", index=False)
    with pytest.raises(LabelledDataError, match="use --tsv-quoting csv"):
        read_labelled(path)  # auto: the tab inside a quoted field breaks the row
    assert [r[1] for r in read_labelled(path, tsv_quoting="csv")] == frame["text"].tolist()
    # A stray quote is an error under csv quoting, naming the line.
    with pytest.raises(LabelledDataError, match=r"stray\.tsv line 2: malformed CSV"):
        read_labelled(_write(tmp_path / "stray.tsv", 'label\ttext\npos\t"Great" film\n'),
                      tsv_quoting="csv")


def test_bundled_reviews_need_no_unquoting():
    from components.labelled_example_gen.reader import inspect_labelled_data

    report = inspect_labelled_data(os.path.join(REPO, "data", "sentiment", "rotten_tomatoes.tsv"))
    assert report.notes == [] and sum(report.label_counts.values()) == report.files[0].rows


def test_compressed_files_skipped_entries_and_counts(tmp_path):
    import gzip

    from components.labelled_example_gen.reader import inspect_labelled_data

    _write(tmp_path / "train.tsv.gz", gzip.compress(
        "label\ttext\npos\tGood.\nneg\tBad.\npos\tFine.\n".encode()))
    _write(tmp_path / "eval.jsonl", '{"text": "Ok.", "label": "pos"}\n{"text": "No.", "label": "neg"}\n')
    _write(tmp_path / "README.md", "about the data")
    _write(tmp_path / ".hidden.tsv", "label\ttext\n")
    os.mkdir(tmp_path / "old")
    report = inspect_labelled_data(str(tmp_path))
    assert report.label_counts == {"neg": 2, "pos": 3}
    assert [(os.path.basename(f.path), f.rows, f.split) for f in report.files] == [
        ("eval.jsonl", 2, "eval"), ("train.tsv.gz", 3, "train")]
    assert report.files[1].bytes == len("label\ttext\npos\tGood.\nneg\tBad.\npos\tFine.\n")
    assert report.splits() == {"eval": {"files": 1, "rows": 2, "bytes": report.files[0].bytes},
                               "train": {"files": 1, "rows": 3, "bytes": report.files[1].bytes}}
    assert [s.split(" (")[0] for s in report.skipped] == [
        str(tmp_path / ".hidden.tsv"), str(tmp_path / "README.md"), str(tmp_path / "old") + "/"]
    assert user_splits(str(tmp_path)) == {"train": "train.*", "eval": "eval.*"}
    _write(tmp_path / "test.tsv.zip", b"PK")
    with pytest.raises(LabelledDataError, match=r"holds .*test\.tsv\.zip.*not archives"):
        inspect_labelled_data(str(tmp_path))


def test_integer_class_names_in_numeric_order(tmp_path):
    from components.labelled_example_gen.reader import train_labels

    rows = "".join(f"text {i},{i % 12}\n" for i in range(36))
    path = _write(tmp_path / "ints.csv", "text,label\n" + rows)
    assert train_labels(path) == [str(i) for i in range(12)]
    assert list(check_labelled_data(path)) == [str(i) for i in range(12)]
    mixed = _write(tmp_path / "mixed.csv", "text,label\na,10\nb,2\nc,x\n")
    assert train_labels(mixed) == ["10", "2", "x"]  # not all integers: as strings


def test_executor_reads_quoting_and_counts_splits(tmp_path):
    import json

    from components.split_counts import read_split_counts

    path = _write(tmp_path / "quotes.tsv", PANDAS_TSV)
    examples = _run_executor(LabelledExampleGen(path), tmp_path / "out")
    got = _read_splits(examples)
    texts = sorted(t for rows in got.values() for t, _ in rows)
    assert texts == sorted(r[1] for r in read_labelled(path))
    counts = read_split_counts(examples.uri)
    assert {s: c["examples"] for s, c in counts.items()} == {s: len(r) for s, r in got.items()}
    assert {s: c["bytes"] for s, c in counts.items()} == {
        s: sum(len(t.encode()) for t, _ in r) for s, r in got.items()}
    assert json.loads(examples.get_string_custom_property("split_counts")) == counts
    # --tsv-quoting reaches the executor through the custom config
    examples = _run_executor(LabelledExampleGen(path, tsv_quoting="none"), tmp_path / "none")
    assert any('""a triumph' in t for rows in _read_splits(examples).values() for t, _ in rows)


@pytest.mark.parametrize("name,content", [
    ("a.csv", "label,text\npos,Good\rfilm.\nneg,Bad.\n"),
    ("a.tsv", "label\ttext\npos\tGood\rfilm.\nneg\tBad.\n"),
])
def test_a_lone_carriage_return_does_not_end_a_record(tmp_path, name, content):
    # Not a record end (lines end at "\n" only): an error naming the line, never two rows.
    with pytest.raises(LabelledDataError, match=rf"{name} line 2: malformed CSV"):
        read_labelled(_write(tmp_path / name, content))
    quoted = _write(tmp_path / "q.csv", 'label,text\npos,"Good\rfilm."\n')
    assert read_labelled(quoted) == [(2, "Good\rfilm.", "pos")]


def test_a_quoted_tsv_header_names_the_quoting_flag(tmp_path):
    path = _write(tmp_path / "r.tsv", '"label"\t"text"\n"pos"\t"Good."\n')
    with pytest.raises(LabelledDataError, match="no text column 'text'.*--tsv-quoting csv"):
        read_labelled(path)
    assert read_labelled(path, tsv_quoting="csv") == [(2, "Good.", "pos")]


def test_unquoting_is_linear_on_long_fields(tmp_path):
    # A long field with many doubled quotes and no closing quote is left as written, quickly.
    from components.labelled_example_gen.reader import _unquote_tsv_fields

    field = '"' + 'ab""' * 20_000
    assert _unquote_tsv_fields([field, '""""', '"say ""hi"""']) == (
        [field, '"', 'say "hi"'], 2)
