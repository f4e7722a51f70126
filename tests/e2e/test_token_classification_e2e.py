"""Token classification end to end (issue 23): `lmpipe finetune --task token-classification`
from the committed small Hugging Face checkpoint on the bundled Universal NER sample, pushed,
served from raw text in a TF1 session with character offsets, entity metrics checked against
seqeval, and bad input refused with nothing pushed. One shared pipeline run."""

import json
import os
import shutil

import pytest

from tests.conftest import REPO, run_lmpipe

pytestmark = pytest.mark.e2e

CHECKPOINT = os.path.join(REPO, "tests", "data", "bert_parity", "checkpoint")
SAMPLE = os.path.join(REPO, "data", "ner", "uner_en_ewt_sample")
FLAGS = ["--task", "token-classification", "--pretrained", CHECKPOINT, "--seq-length", "32",
         "--batch-size", "16", "--train-steps", "40", "--checkpoint-every", "40",
         "--eval-steps", "2", "--learning-rate", "5e-4", "--min-f1", "0"]
TEXTS = ["Ada Lovelace met Charles Babbage in London .",
         "Zoë flew from Zürich to 東京 — via Москва! 🙂", ""]


def _versions(model_dir):
    return sorted(os.listdir(model_dir)) if os.path.isdir(model_dir) else []


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ner")
    run_dir = str(root / "run")
    result = run_lmpipe("finetune", "--data", SAMPLE, "--run-dir", run_dir, *FLAGS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["token_classification"]
    return {"root": root, "run_dir": run_dir, "summary": summary, "stdout": result.stdout}


def test_the_run_is_summarized_blessed_and_pushed(ner_run):
    summary, stdout = ner_run["summary"], ner_run["stdout"]
    assert summary["task"] == "token_classification" and summary["pushed"]
    assert summary["labels"] == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert summary["entity_types_from"] == "the train split"
    assert summary["input"]["sentences"] == 251 + 63 + 65
    for key in ("entity_f1", "entity_precision", "entity_recall", "token_accuracy",
                "entity_f1/LOC", "entity_f1/ORG", "entity_f1/PER"):
        assert 0.0 <= summary["eval_metrics"][key] <= 1.0, key
    test = summary["test_metrics"]
    assert test["sentences"] == 65 and 0.0 <= test["entity_f1"] <= 1.0
    assert test["entity_support/LOC"] == 12 and test["entity_support/PER"] == 9
    assert summary["training"]["steps"] == 40
    assert "eval entity F1" in stdout and "test entity F1" in stdout
    schema = os.path.join(ner_run["run_dir"], "tagged_schema.pbtxt")
    assert "B-ORG" in open(schema).read()


def _eval_sentences():
    from components.tagged_example_gen.reader import read_tagged
    return read_tagged(os.path.join(SAMPLE, "eval.iob2"))


def test_the_evaluators_entity_f1_is_seqevals(ner_run):
    """TFMA's entity F1 on the eval split equals seqeval's on the pushed model's tags."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    from seqeval.metrics import f1_score

    model = tf.saved_model.load(ner_run["summary"]["pushed_model"])
    sentences = _eval_sentences()
    width = max(len(s.tokens) for s in sentences)
    tokens = [list(s.tokens) + [""] * (width - len(s.tokens)) for s in sentences]
    tags = model.signatures["tag_tokens"](tokens=tf.constant(tokens))["tags"].numpy()
    predicted = [[t.decode() for t in row[:len(s.tokens)]] for row, s in zip(tags, sentences)]
    gold = [list(s.tags) for s in sentences]
    assert ner_run["summary"]["eval_metrics"]["entity_f1"] == pytest.approx(
        f1_score(gold, predicted), abs=1e-6)


def test_served_from_raw_text_in_a_tf1_session(ner_run):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    version_dir = ner_run["summary"]["pushed_model"]  # <serving dir>/<model>/<version>
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], version_dir)
        signature = meta.signature_def["serving_default"]
        out = session.run({k: v.name for k, v in signature.outputs.items()},
                          {signature.inputs["text"].name: TEXTS})
    for i, text in enumerate(TEXTS):
        for j in range(out["entity_count"][i]):
            start, end = out["start"][i, j], out["end"][i, j]
            assert out["entity_text"][i, j].decode() == text[start:end] and start < end
    assert out["entity_count"][2] == 0
    info = json.load(open(os.path.join(version_dir, "assets.extra", "lmpipe", "model.json")))
    assert info["task"] == "token-classification" and info["labels"][0] == "O"


def test_predict_prints_entities(ner_run):
    result = run_lmpipe("predict", "--model-dir", ner_run["summary"]["pushed_model"], *TEXTS[:2])
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == TEXTS[:2]
    for row in rows:
        assert row["entity_count"] == len(row["entities"])
        for entity in row["entities"]:
            assert row["text"][entity["start"]:entity["end"]] == entity["entity_text"]
            assert set(entity) == {"entity_type", "start", "end", "entity_text", "score"}


def test_not_blessed_below_min_f1_and_nothing_pushed(ner_run):
    model_dir = os.path.dirname(ner_run["summary"]["pushed_model"])
    before = _versions(model_dir)
    flags = [f if f != "0" or FLAGS[i - 1] != "--min-f1" else "1.0" for i, f in enumerate(FLAGS)]
    result = run_lmpipe("finetune", "--data", SAMPLE, "--run-dir", ner_run["run_dir"], *flags)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "not blessed" in result.stderr
    assert _versions(model_dir) == before


# Each kind of bad line is a reader unit test (tests/components/test_tagged_example_gen.py);
# here, that the CLI stops before any work with the reader's message and exit code 2.
@pytest.mark.parametrize("problem,message", [
    ("unknown_type", "entity type(s) MISC not among this run's LOC, ORG, PER"),
    ("task_flag", "--text-column: not a setting of --task token-classification"),
])
def test_bad_input_is_refused_before_any_work(ner_run, tmp_path, problem, message):
    data = str(tmp_path / "data")
    shutil.copytree(SAMPLE, data)
    extra = []
    if problem == "unknown_type":  # a type the run's schema (an earlier run's) lacks
        with open(os.path.join(data, "eval.iob2"), "a") as f:
            f.write("\n1\tLinux\tB-MISC\t-\t-\n")
    else:
        extra = ["--text-column", "sentence"]
    model_dir = os.path.dirname(ner_run["summary"]["pushed_model"])
    before = _versions(model_dir)
    result = run_lmpipe("finetune", "--data", data, "--run-dir", ner_run["run_dir"], *FLAGS,
                        *extra)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert message in result.stderr and "nothing was pushed" in result.stderr
    assert _versions(model_dir) == before


HF = os.path.join(REPO, "tests", "data", "hf_checkpoints")


def _expected(name):
    with open(os.path.join(HF, name, "expected_entities.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _served_entities(version_dir, texts):
    """The pushed model's answers, loaded as TF Serving loads it (a TF1 session)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    rows = []
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], version_dir)
        signature = meta.signature_def["serving_default"]
        fetches = {k: v.name for k, v in signature.outputs.items()}
        for i in range(0, len(texts), 100):
            out = session.run(fetches, {signature.inputs["text"].name: texts[i:i + 100]})
            for r in range(len(out["entity_count"])):
                rows.append([(out["entity_type"][r, j].decode(), int(out["start"][r, j]),
                              int(out["end"][r, j]), float(out["score"][r, j]))
                             for j in range(out["entity_count"][r])])
    return rows


def _assert_pipeline_entities(rows, cases, score_tolerance):
    for ours, case in zip(rows, cases):
        assert [e[:3] for e in ours] == [(e["entity_group"], e["start"], e["end"])
                                         for e in case["entities"]], case["text"]
        for a, b in zip(ours, case["entities"]):
            assert abs(a[3] - b["score"]) < score_tolerance
    assert len(rows) == len(cases) == 300


def test_a_fine_tuned_tagger_is_served_in_one_command(tmp_path):
    """`lmpipe import` of a BertForTokenClassification: the pushed model answers every one of
    300 sentences as transformers' pipeline(aggregation_strategy="first") does."""
    run_dir = str(tmp_path / "run")
    result = run_lmpipe("import", "--checkpoint", os.path.join(HF, "bert_tagger"),
                        "--run-dir", run_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["import"]
    assert summary["task"] == "token_classification" and summary["pushed"]
    assert summary["classes"] == ["B-LOC", "I-LOC", "B-PER", "O", "I-PER", "B-ORG", "I-ORG"]
    assert os.path.dirname(summary["pushed_model"]) == os.path.join(run_dir, "serving",
                                                                    "token_classifier")
    assert "a fine-tuned token classifier, served as one" in result.stdout
    cases = _expected("bert_tagger")
    _assert_pipeline_entities(_served_entities(summary["pushed_model"],
                                               [c["text"] for c in cases]), cases, 2e-4)
