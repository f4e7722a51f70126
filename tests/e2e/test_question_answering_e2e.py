"""Question answering end to end (issue 35): `lmpipe finetune --task question-answering` from the
committed small checkpoint on the bundled SQuAD sample made SQuAD v2.0 (train and eval JSON with
unanswerable questions added: questions of one article asked of another's paragraphs; test JSON
Lines), pushed with a no-answer threshold learned on eval, answering raw questions about raw
contexts in a TF1 session as TF Serving loads it (`context[start:end] == answer`, contexts of
many windows included), the Evaluator's F1 equal to lmpipe's SQuAD metric on the served
answers, `lmpipe predict`, the blessing gate, bad input refused with nothing pushed, and a
Hugging Face BertForQuestionAnswering imported as the same servable. One shared pipeline run."""

import json
import os
import shutil

import pytest

from tests.conftest import REPO, read_warmup_requests, run_lmpipe

pytestmark = pytest.mark.e2e

CHECKPOINT = os.path.join(REPO, "tests", "data", "bert_parity", "checkpoint")
QA_CHECKPOINT = os.path.join(REPO, "tests", "data", "hf_checkpoints", "bert_qa")
SAMPLE = os.path.join(REPO, "data", "qa", "squad_sample")
FLAGS = ["--task", "question-answering", "--pretrained", CHECKPOINT, "--seq-length", "64",
         "--doc-stride", "16", "--max-query-length", "24", "--batch-size", "16",
         "--train-steps", "30", "--checkpoint-every", "30", "--eval-steps", "2",
         "--learning-rate", "5e-4", "--min-f1", "0"]
CONTEXTS = ["Zoë flew from Zürich to 東京 🙂 via Москва, said the café owner.",
            " ".join(["The bridge over the river was built in 1820 by Thomas Telford."] * 12), ""]
QUESTIONS = ["Where did Zoë fly?", "Who built the bridge?", "Anything?"]


def _versions(model_dir):
    return sorted(os.listdir(model_dir)) if os.path.isdir(model_dir) else []


def with_unanswerable(source, target, asked_from, count):
    """`source` (SQuAD JSON) as v2.0 with `count` more questions: the questions of another
    article (`asked_from`, SQuAD JSON: its last article's) asked about `source`'s paragraphs,
    with no answers (is_impossible)."""
    data = json.loads(open(source, encoding="utf-8").read())
    other = json.loads(open(asked_from, encoding="utf-8").read())["data"][-1]
    asked = [qa for p in other["paragraphs"] for qa in p["qas"]][:count]
    paragraphs = [p for article in data["data"] if article["title"] != other["title"]
                  for p in article["paragraphs"]]
    for i, qa in enumerate(asked):
        paragraphs[i % len(paragraphs)]["qas"].append({
            "id": f"impossible-{i}", "question": qa["question"], "answers": [],
            "is_impossible": True})
    data["version"] = "v2.0"
    target.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(scope="module")
def qa_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("qa-data")
    train, evaluation = os.path.join(SAMPLE, "train.json"), os.path.join(SAMPLE, "eval.json")
    # Montana's questions (train's last article) asked of Beyoncé's paragraphs (train) and of
    # Genocide's (eval): no eval question is trained on.
    with_unanswerable(train, data / "train.json", train, 30)
    with_unanswerable(evaluation, data / "eval.json", train, 3)
    shutil.copy(os.path.join(SAMPLE, "test.jsonl"), data / "test.jsonl")
    return str(data)


@pytest.fixture(scope="module")
def qa_run(tmp_path_factory, qa_data):
    root = tmp_path_factory.mktemp("qa")
    run_dir = str(root / "run")
    result = run_lmpipe("finetune", "--data", qa_data, "--run-dir", run_dir, *FLAGS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["question_answering"]
    return {"root": root, "run_dir": run_dir, "summary": summary, "stdout": result.stdout,
            "data": qa_data}


def test_the_run_is_summarized_blessed_and_pushed(qa_run):
    summary, stdout = qa_run["summary"], qa_run["stdout"]
    assert summary["task"] == "question_answering" and summary["pushed"] and summary["blessed"]
    assert summary["input"]["questions"] == 190 + 30 + 50 + 3 + 32
    assert summary["input"]["unanswerable"] == 33
    assert summary["config"]["with_no_answer"] and "--with-no-answer" in stdout
    served = summary["served_settings"]
    assert served["with_no_answer"] and isinstance(served["null_score_threshold"], float)
    assert summary["eval_squad"]["NoAns_total"] == 3 and summary["eval_squad"]["HasAns_total"] == 50
    assert "no answer         answered" in stdout
    for key in ("f1", "exact_match"):
        assert 0.0 <= summary["eval_metrics"][key] <= 1.0, key
    test = summary["test_metrics"]
    assert test["questions"] == 32 and test["squad"]["total"] == 32
    assert test["f1"] == pytest.approx(test["squad"]["f1"] / 100)
    assert summary["training"]["steps"] == 30 and summary["span_head"] == "new"
    assert "eval F1 / EM" in stdout and "test F1 / EM" in stdout
    assert "(doc_stride)" in stdout


def test_the_evaluators_f1_is_the_squad_metric_of_the_served_answers(qa_run):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from components.question_answer_example_gen.reader import read_questions
    from models.question_answering.metrics import squad_scores

    questions = read_questions(os.path.join(qa_run["data"], "eval.json"))
    answer = tf.saved_model.load(qa_run["summary"]["pushed_model"]).signatures["serving_default"]
    out = answer(question=tf.constant([q.question for q in questions]),
                 context=tf.constant([q.context for q in questions]))
    predictions = [a.decode() for a in out["answer"].numpy()]
    scores = squad_scores(predictions, [q.answer_texts for q in questions])
    metrics = qa_run["summary"]["eval_metrics"]
    assert metrics["f1"] == pytest.approx(scores["f1"] / 100, abs=1e-6)
    assert metrics["exact_match"] == pytest.approx(scores["exact_match"] / 100, abs=1e-6)


def test_answers_raw_questions_in_a_tf1_session(qa_run):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    version_dir = qa_run["summary"]["pushed_model"]
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], version_dir)
        signature = meta.signature_def["serving_default"]
        assert set(signature.inputs) == {"question", "context"}
        out = session.run({k: v.name for k, v in signature.outputs.items()},
                          {signature.inputs["question"].name: QUESTIONS,
                           signature.inputs["context"].name: CONTEXTS})
    for i, context in enumerate(CONTEXTS[:2]):
        start, end = out["start"][i], out["end"][i]
        assert out["answer"][i].decode() == context[start:end]
        assert out["has_answer"][i] == (out["answer"][i] != b"")
        for j in range(out["answers"].shape[1]):
            s, e = out["starts"][i, j], out["ends"][i, j]
            assert out["answers"][i, j].decode() == context[s:e]
        assert list(out["scores"][i]) == sorted(out["scores"][i], reverse=True)
    assert out["answer"][2] == b"" and not out["has_answer"][2] and out["starts"][2, 0] == -1
    info = json.load(open(os.path.join(version_dir, "assets.extra", "lmpipe", "model.json")))
    assert info["task"] == "question-answering"
    assert (info["seq_length"], info["doc_stride"], info["max_query_length"]) == (64, 16, 24)
    requests = read_warmup_requests(version_dir)
    assert requests and set(requests[0].predict_log.request.inputs) == {"question", "context"}


def test_predict_answers_a_question_and_a_jsonl_file(qa_run, tmp_path):
    model = qa_run["summary"]["pushed_model"]
    result = run_lmpipe("predict", "--model-dir", model, "--question", QUESTIONS[0],
                        "--context", CONTEXTS[0])
    assert result.returncode == 0, result.stderr[-3000:]
    row = json.loads(result.stdout)
    assert row["context"][row["start"]:row["end"]] == row["answer"]
    assert row["alternatives"][0]["answer"] == row["answer"] if row["has_answer"] else \
        row["answer"] == "" and row["alternatives"]  # no answer; the spans it weighed
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps({"question": q, "context": c}, ensure_ascii=False) + "\n"
                            for q, c in zip(QUESTIONS, CONTEXTS)), encoding="utf-8")
    result = run_lmpipe("predict", "--model-dir", model, "--input", str(path))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in rows] == QUESTIONS
    assert rows[2]["has_answer"] is False and rows[2]["alternatives"] == []
    result = run_lmpipe("predict", "--model-dir", model, "just a text")
    assert result.returncode == 1 and "--question and --context" in result.stderr


def test_not_blessed_below_min_f1_and_nothing_pushed(qa_run):
    model_dir = os.path.dirname(qa_run["summary"]["pushed_model"])
    before = _versions(model_dir)
    flags = [f if f != "0" or FLAGS[i - 1] != "--min-f1" else "1.0" for i, f in enumerate(FLAGS)]
    result = run_lmpipe("finetune", "--data", qa_run["data"], "--run-dir", qa_run["run_dir"],
                        *flags)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "not blessed" in result.stderr
    assert _versions(model_dir) == before


def test_misaligned_answers_stop_the_run_or_are_dropped_and_counted(qa_run, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    train = json.loads((data / "train.json").read_text(encoding="utf-8"))
    qa = train["data"][0]["paragraphs"][0]["qas"][0]
    qa["answers"][0]["answer_start"] += 3
    (data / "train.json").write_text(json.dumps(train), encoding="utf-8")
    run_dir = str(tmp_path / "run")
    result = run_lmpipe("finetune", "--data", str(data), "--run-dir", run_dir, *FLAGS)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"question {qa['id']!r}" in result.stderr and "train.json" in result.stderr
    assert f"the answer is {qa['answers'][0]['text']!r}" in result.stderr
    assert not os.path.exists(os.path.join(run_dir, "serving"))
    result = run_lmpipe("finetune", "--data", str(data), "--run-dir", run_dir, *FLAGS,
                        "--misaligned-answers", "drop", "--dry-run")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "dropped 1 misaligned answer(s) and 1 question(s)" in result.stdout
    assert "271 questions" in result.stdout


def test_a_hugging_face_qa_model_imports_as_the_same_servable(qa_run):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    run_dir = str(qa_run["root"] / "import")
    result = run_lmpipe("import", "--checkpoint", QA_CHECKPOINT, "--run-dir", run_dir,
                        "--top-k", "3")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.load(open(os.path.join(run_dir, "summary.json")))["import"]
    assert summary["task"] == "question_answering"
    assert "question_answering" in summary["pushed_model"]
    with open(os.path.join(REPO, "tests", "data", "hf_checkpoints", "qa_pairs.jsonl")) as f:
        pairs = [json.loads(line) for line in f][145:155]  # single and many windows
    with open(os.path.join(QA_CHECKPOINT, "expected_answers.jsonl")) as f:
        expected = [json.loads(line) for line in f][145:155]
    answer = tf.saved_model.load(summary["pushed_model"]).signatures["serving_default"]
    out = {k: v.numpy() for k, v in answer(
        question=tf.constant([p["question"] for p in pairs]),
        context=tf.constant([p["context"] for p in pairs])).items()}
    for i, case in enumerate(expected):
        best = case["answers"][0]
        assert (out["answer"][i].decode(), int(out["start"][i]), int(out["end"][i])) == \
            (best["answer"], best["start"], best["end"])
    from models import checkpoints
    from models.core import encoder
    from models.question_answering.settings import QuestionAnsweringSettings
    from models.question_answering.trainer import kept_span_head
    model_dir = os.path.join(run_dir, "pipeline")
    encoders = [os.path.join(root, d) for root, dirs, _ in os.walk(model_dir) for d in dirs
                if d == encoder.ENCODER_DIR]
    head = kept_span_head(encoders[0], QuestionAnsweringSettings())
    assert head is not None and head[0].shape == (64, 2)
    assert checkpoints.classifier_head(encoders[0], checkpoints.QUESTION_ANSWERING)[0] == \
        ["start", "end"]
