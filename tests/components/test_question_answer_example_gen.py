"""Question-answering data (components/question_answer_example_gen/reader.py): SQuAD v1.1 and
v2.0 JSON and Hugging Face's JSON Lines read alike; a gold answer whose answer_start does not
point at its text is reported with file, question id and both strings, every problem at once,
or dropped and counted with `misaligned="drop"`."""

import json
import os

import pytest

from components.question_answer_example_gen import reader
from tests.conftest import REPO

SAMPLE = os.path.join(REPO, "data", "qa", "squad_sample")
CONTEXT = "Ada Lovelace wrote the first program in 1843 in London."


def squad(path, qas, version="2.0"):
    data = {"version": version, "data": [{"title": "Ada", "paragraphs": [
        {"context": CONTEXT, "qas": qas}]}]}
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def qa(qid, question, answers, **extra):
    return {"id": qid, "question": question,
            "answers": [{"text": t, "answer_start": s} for t, s in answers], **extra}


def test_the_bundled_sample_reads_in_both_formats():
    report = reader.check_qa_data(SAMPLE).to_json()
    assert report["files"] == 3 and report["questions"] == 190 + 50 + 32
    assert report["unanswerable"] == 0
    assert reader.user_splits(SAMPLE) == {"train": "train.*", "eval": "eval.*", "test": "test.*"}
    first = reader.read_questions(os.path.join(SAMPLE, "test.jsonl"))[0]
    assert first.context[first.answer_starts[0]:][:len(first.answer_texts[0])] == \
        first.answer_texts[0]


def test_squad_v2_unanswerable_questions_have_no_answers(tmp_path):
    path = squad(tmp_path / "v2.json", [
        qa("a", "Who wrote it?", [("Ada Lovelace", 0)]),
        qa("b", "Who painted it?", [], is_impossible=True,
           plausible_answers=[{"text": "Ada", "answer_start": 0}])])
    questions = reader.read_questions(path)
    assert [(q.id, q.answer_texts) for q in questions] == [("a", ["Ada Lovelace"]), ("b", [])]
    assert reader.check_qa_data(path).to_json()["unanswerable"] == 1


def test_jsonl_as_hugging_face_datasets_writes_squad(tmp_path):
    path = tmp_path / "qa.jsonl"
    rows = [{"id": "x", "question": "When?", "context": CONTEXT,
             "answers": {"text": ["1843"], "answer_start": [CONTEXT.index("1843")]}},
            {"id": "y", "question": "Why?", "context": CONTEXT,
             "answers": {"text": [], "answer_start": []}}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    questions = reader.read_questions(str(path))
    assert [(q.id, q.answer_starts) for q in questions] == [("x", [40]), ("y", [])]


def test_every_misaligned_answer_is_reported_with_file_question_and_both_strings(tmp_path):
    path = squad(tmp_path / "bad.json", [
        qa("ok", "Who?", [("Ada Lovelace", 0)]),
        qa("off-by-one", "When?", [("1843", CONTEXT.index("1843") + 1)]),
        qa("elsewhere", "Where?", [("Paris", 3)]),
        qa("one-of-two", "What?", [("the first program", CONTEXT.index("the first")),
                                   ("first program", 0)])])
    with pytest.raises(reader.QADataError) as error:
        reader.check_qa_data(path)
    message = str(error.value)
    assert message.startswith("3 problem(s)") and "nothing was run" in message
    assert f"file {path}, question 'off-by-one'" in message
    assert "the answer is '1843', the context there reads '843 '" in message
    assert "the text first occurs at 40" in message
    assert "question 'elsewhere'" in message and "does not occur in the context" in message
    assert "question 'one-of-two'" in message and "--misaligned-answers drop" in message


def test_misaligned_answers_dropped_and_counted(tmp_path):
    path = squad(tmp_path / "bad.json", [
        qa("ok", "Who?", [("Ada Lovelace", 0)]),
        qa("gone", "When?", [("1843", 0)]),
        qa("kept", "What?", [("the first program", CONTEXT.index("the first")),
                             ("first program", 0)])])
    report = reader.check_qa_data(path, "drop").to_json()
    assert report["questions"] == 2 and report["misaligned_answers_dropped"] == 2
    assert report["questions_dropped"] == 1
    kept = {q.id: q.answer_texts for q in reader.read_questions(path, "drop")}
    assert kept == {"ok": ["Ada Lovelace"], "kept": ["the first program"]}


def test_other_problems_all_at_once(tmp_path):
    squad(tmp_path / "bad.json", [
        qa("a", "", [("Ada", 0)]),
        qa("a", "Who?", [("Ada", 0)]),
        qa("b", "Who?", [("Ada", "zero")]),
        qa("c", "Who?", [("Ada", 0)], is_impossible=True)])
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text('{"id": "d", "question": "Q?", "context": "C", "answers": {"text": ["C"]}}\n'
                     "not json\n", encoding="utf-8")
    with pytest.raises(reader.QADataError) as error:
        reader.check_qa_data(str(tmp_path))
    message = str(error.value)
    assert message.startswith("6 problem(s)")
    for part in ("question 'a' (data[0].paragraphs[0].qas[0]): the question is empty",
                 "question id 'a' at data[0].paragraphs[0].qas[1] was used before",
                 "question 'b'", "integer `answer_start`", "is_impossible is true but it has",
                 "more.jsonl, question 'd' (line 1)", "more.jsonl, line 2: not JSON"):
        assert part in message, part


def test_not_squad_and_missing_files(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(reader.QADataError, match="not SQuAD JSON"):
        reader.check_qa_data(str(path))
    with pytest.raises(reader.QADataError, match="does not exist"):
        reader.check_qa_data(str(tmp_path / "nope.json"))
    with pytest.raises(reader.QADataError, match="not a question-answering file"):
        (tmp_path / "x.csv").write_text("a,b\n")
        reader.check_qa_data(str(tmp_path / "x.csv"))


def test_one_file_is_hash_split_by_context(tmp_path):
    """A single file: the questions about one context land in one split (eval never scores a
    paragraph trained on), every question once."""
    import glob

    import tensorflow as tf
    from tfx.proto import example_gen_pb2
    from tfx.types import artifact_utils, standard_artifacts

    from components.question_answer_example_gen import QuestionAnswerExampleGen
    from components.question_answer_example_gen.executor import Executor

    path = tmp_path / "all.jsonl"
    rows = [{"id": f"{c}-{q}", "question": f"Question {q} about {c}?",
             "context": f"Context number {c} says something.",
             "answers": {"text": ["Context"], "answer_start": [0]}}
            for c in range(40) for q in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    gen = QuestionAnswerExampleGen(str(path))
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "out")
    exec_properties = {key: gen.exec_properties[key] for key in (
        "input_base", "input_config", "output_config", "custom_config")}
    exec_properties["output_data_format"] = example_gen_pb2.FORMAT_TF_EXAMPLE
    Executor().Do({}, {"examples": [examples]}, exec_properties)
    split_of = {}
    for split in artifact_utils.decode_split_names(examples.split_names):
        files = glob.glob(os.path.join(examples.uri, f"Split-{split}", "*.gz"))
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            feature = tf.train.Example.FromString(record.numpy()).features.feature
            qid = feature["id"].bytes_list.value[0].decode()
            assert qid not in split_of
            split_of[qid] = split
    assert len(split_of) == 120 and set(split_of.values()) == {"train", "eval", "test"}
    for c in range(40):
        assert len({split_of[f"{c}-{q}"] for q in range(3)}) == 1
