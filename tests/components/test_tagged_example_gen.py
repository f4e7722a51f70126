"""Tagged data as it comes (issue 23, point 1): CoNLL and CoNLL-U-like files, JSONL, the four
tag schemes converted to IOB2, and every kind of bad input refused with its file and line."""

import json
import os

import pytest

from components.tagged_example_gen import reader
from components.tagged_example_gen.reader import TaggedDataError, to_iob2
from tests.conftest import REPO

NER = os.path.join(REPO, "data", "ner")


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("scheme,tags,expected", [
    ("iob2", ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"],
     ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]),
    ("iob1", ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"],
     ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "B-ORG"]),
    ("bioes", ["B-PER", "E-PER", "S-LOC", "O", "B-ORG", "I-ORG", "E-ORG"],
     ["B-PER", "I-PER", "B-LOC", "O", "B-ORG", "I-ORG", "I-ORG"]),
    ("bilou", ["U-PER", "B-LOC", "L-LOC", "O"], ["B-PER", "B-LOC", "I-LOC", "O"]),
])
def test_every_scheme_becomes_iob2(scheme, tags, expected):
    assert to_iob2(tags, scheme) == expected


@pytest.mark.parametrize("scheme,tags,message", [
    ("iob2", ["O", "I-PER"], "--tag-scheme iob1"),
    ("iob2", ["B-LOC", "I-PER"], "continues a PER entity"),
    ("iob2", ["S-PER"], "is not O or B/I-<type>"),
    ("bioes", ["B-PER", "O"], "unfinished PER entity"),
    ("bioes", ["B-PER"], "ends inside a PER entity"),
    ("bioes", ["E-PER"], "is not inside a PER entity"),
    ("bilou", ["B-PER", "I-LOC", "L-LOC"], "unfinished PER entity"),
    ("iob1", ["PER"], "is not O or B/I-<type>"),
])
def test_a_tag_sequence_that_breaks_its_scheme_is_refused(scheme, tags, message):
    with pytest.raises(ValueError, match=message):
        to_iob2(tags, scheme)


def test_conll_columns_comments_docstart_and_the_hash_token(tmp_path):
    path = _write(tmp_path, "a.conll", "-DOCSTART- O\n\n# a comment line\nAda\tB-PER\n"
                  "Lovelace\tI-PER\n#\tO\n\n\nParis  x  B-LOC\n")
    sentences = reader.read_tagged(path)
    assert [s.tokens for s in sentences] == [("Ada", "Lovelace", "#"), ("Paris",)]
    assert [s.tags for s in sentences] == [("B-PER", "I-PER", "O"), ("B-LOC",)]
    assert [s.line for s in sentences] == [4, 9]


def test_conll_u_like_files_take_column_2_and_3():
    sentences = reader.read_tagged(os.path.join(NER, "uner_en_ewt_sample", "train.iob2"))
    assert len(sentences) == 251
    first = sentences[0]
    assert first.tokens[:4] == ("where", "can", "I", "get") and first.line == 4
    assert "B-LOC" in first.tags and all(t == "O" or t[:2] in ("B-", "I-") for t in first.tags)


def test_columns_can_be_named(tmp_path):
    path = _write(tmp_path, "a.tsv", "x\tAda\tNNP\tB-PER\ty\nx\tsaid\tVBD\tO\ty\n")
    assert reader.read_tagged(path, token_column="2", tag_column="4")[0].tokens == ("Ada", "said")
    with pytest.raises(TaggedDataError, match="is not O or"):
        reader.read_tagged(path)  # token column 1, tag the last: "y"


def test_wikigold_is_iob1():
    path = os.path.join(NER, "wikigold_sample")
    with pytest.raises(TaggedDataError, match="--tag-scheme iob1"):
        reader.check_tagged_data(path)
    report = reader.check_tagged_data(path, "iob1").to_json()
    assert report["entities"]["all"] == {"MISC": 54, "ORG": 69, "PER": 40, "LOC": 67}
    assert report["sentences"] == 116  # 120 groups less 4 -DOCSTART- lines


def test_jsonl(tmp_path):
    rows = [{"tokens": ["Ada", "Lovelace"], "tags": ["B-PER", "I-PER"]},
            {"words": ["x"], "ner": ["O"]}]
    path = _write(tmp_path, "a.jsonl", "\n".join(json.dumps(r) for r in rows[:1]) + "\n")
    assert reader.read_tagged(path)[0].tags == ("B-PER", "I-PER")
    other = _write(tmp_path, "b.jsonl", json.dumps(rows[1]) + "\n")
    assert reader.read_tagged(other, token_column="words", tag_column="ner")[0].tokens == ("x",)


def test_every_problem_is_reported_at_once_with_file_and_line(tmp_path):
    directory = tmp_path / "data"
    directory.mkdir()
    _write(directory, "a.conll", "Ada B-PER\nLovelace\n\n\tO\nx O\n\nParis I-LOC\n")
    _write(directory, "b.jsonl", json.dumps({"tokens": ["a", "b"], "tags": ["O"]}) + "\n"
           + json.dumps({"tokens": ["a", " "], "tags": ["O", "O"]}) + "\n{oops\n")
    with pytest.raises(TaggedDataError) as error:
        reader.check_tagged_data(str(directory))
    message = str(error.value)
    assert "6 problem(s)" in message and "nothing was run" in message
    assert "a.conll line 2: 1 column(s)" in message
    assert "a.conll line 4: the token (column 1) is empty" in message
    assert "the sentence at line 7: token 1 (I-LOC) continues a LOC entity" in message
    assert "b.jsonl line 1: 2 tokens but 1 tags" in message
    assert "b.jsonl line 2: token 2 is empty" in message
    assert "b.jsonl line 3: not JSON" in message


def test_an_entity_type_outside_the_runs_is_refused(tmp_path):
    path = _write(tmp_path, "a.conll", "Ada B-PER\n\nACME B-ORG\n")
    with pytest.raises(TaggedDataError, match="entity type.s. ORG not among this run's PER"):
        reader.check_tagged_data(path, labels=["PER"])


def test_splits_and_types_come_from_a_directory():
    path = os.path.join(NER, "uner_en_ewt_sample")
    assert reader.user_splits(path) == {"train": "train.*", "eval": "eval.*", "test": "test.*"}
    assert reader.train_entity_types(path) == ["LOC", "ORG", "PER"]
    assert reader.iob2_labels(["LOC", "PER"]) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_a_file_without_entities_or_sentences(tmp_path):
    with pytest.raises(TaggedDataError, match="no entities"):
        reader.train_entity_types(_write(tmp_path, "a.conll", "a O\nb O\n"))
    with pytest.raises(TaggedDataError, match="no sentences"):
        reader.read_tagged(_write(tmp_path, "b.conll", "# only a comment\n\n"))
    with pytest.raises(TaggedDataError, match="not a tagged-data file"):
        reader.list_data_files(_write(tmp_path, "c.csv", "a,b\n"))
