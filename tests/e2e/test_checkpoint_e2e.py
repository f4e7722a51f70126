"""Starting from a public-style checkpoint, end to end (tests/data/bert_parity: a Hugging Face
BERT, cased, Google's reserved ids): continued pretraining on the bundled corpus, then
fine-tuning from its result on a three-class file with no schema; and fine-tuning a model of
text pairs straight from the checkpoint. One run of each, shared by the assertions."""

import json
import os
import random

import ml_metadata as mlmd
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer's ops before loading models)
from tfx import v1 as tfx

from tests.conftest import REPO, run_lmpipe, tiny_corpus

pytestmark = pytest.mark.e2e

CHECKPOINT = os.path.join(REPO, "tests", "data", "bert_parity", "checkpoint")
SOURCES = ("brown", "news", "wikipedia")


def _run(*args):
    result = run_lmpipe(*args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def _summary(run_dir, job):
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)[job]


def source_file(path, per_source=150):
    """A three-class file from the bundled corpus: a paragraph, labelled with where it is from."""
    rows = []
    for name in SOURCES:
        with open(os.path.join(REPO, "data", "corpus", f"{name}.txt"), encoding="utf-8") as f:
            paragraphs = [p.strip().replace("\t", " ") for p in f if len(p.strip()) > 80]
        rows += [(name, p[:300]) for p in paragraphs[:per_source]]
    random.Random(0).shuffle(rows)
    with open(path, "w", encoding="utf-8") as f:
        f.write("source\ttext\n" + "".join(f"{label}\t{text}\n" for label, text in rows))
    return path


@pytest.fixture(scope="module")
def adapted(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapt")
    run_dir = str(root / "run")
    result = _run("pretrain", "--corpus", tiny_corpus(str(root / "corpus")), "--run-dir", run_dir,
                  "--init-from", CHECKPOINT, "--seq-length", "64", "--max-predictions", "8",
                  "--batch-size", "16", "--train-steps", "60", "--checkpoint-every", "60",
                  "--eval-steps", "5", "--learning-rate", "5e-4", "--min-masked-accuracy", "0.01")
    return {"run_dir": run_dir, "summary": _summary(run_dir, "pretrain"), "stdout": result.stdout}


@pytest.fixture(scope="module")
def classified(adapted, tmp_path_factory):
    root = tmp_path_factory.mktemp("classify")
    run_dir = str(root / "run")
    data = source_file(str(root / "sources.tsv"))
    result = _run("finetune", "--data", data, "--label-column", "source",
                  "--pretrained", adapted["run_dir"], "--run-dir", run_dir, "--seq-length", "64",
                  "--batch-size", "16", "--train-steps", "80", "--checkpoint-every", "40",
                  "--eval-steps", "4", "--learning-rate", "5e-4", "--min-accuracy", "0.4",
                  "--adapt-steps", "20")
    return {"run_dir": run_dir, "summary": _summary(run_dir, "finetune"), "stdout": result.stdout}


def _store(run_dir):
    return mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.join(run_dir, "metadata.sqlite")))


def test_continued_pretraining_uses_the_checkpoints_vocabulary_and_beats_it(adapted):
    summary = adapted["summary"]
    assert summary["vocab_size"] == 2925  # the checkpoint's, not a learned one
    start, now = summary["start_eval_metrics"], summary["eval_metrics"]
    assert now["masked_accuracy"] > start["masked_accuracy"]
    assert now["perplexity"] < start["perplexity"]
    assert summary["blessed"] and summary["pushed"]
    assert "starting point" in adapted["stdout"] and "blessed only if better" in adapted["stdout"]
    store = _store(adapted["run_dir"])
    executions = {store.get_execution_types_by_id([e.type_id])[0].name
                  for e in store.get_executions()}
    assert not any("WordPieceVocabGen" in name for name in executions)
    checkpoint, = store.get_artifacts_by_type("lmpipe.BertCheckpoint")
    assert checkpoint.uri == CHECKPOINT


def test_the_trainer_and_the_evaluator_start_from_the_imported_checkpoint(adapted):
    store = _store(adapted["run_dir"])
    imported = [m for m in store.get_artifacts_by_type("Model") if "CheckpointImport" in m.uri]
    assert len(imported) == 1
    users = {}
    for event in store.get_events_by_artifact_ids([imported[0].id]):
        if event.type == mlmd.proto.Event.INPUT:
            execution, = store.get_executions_by_id([event.execution_id])
            key = event.path.steps[0].key
            users[store.get_execution_types_by_id([execution.type_id])[0].name] = key
    assert {name.rsplit(".", 1)[-1]: key for name, key in users.items()} == {
        "Trainer": "base_model", "Evaluator": "baseline_model"}


def test_the_adapted_model_fills_masks_with_the_checkpoints_tokenizer(adapted):
    session = tf.compat.v1.Session(graph=tf.Graph())
    meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], adapted["summary"]["pushed_model"])
    sig = meta.signature_def["serving_default"]
    out = session.run({k: v.name for k, v in sig.outputs.items()},
                      {sig.inputs["text"].name: ["The [MASK] of Zürich said.", "北京[MASK]"]})
    assert out["mask_count"].tolist() == [1, 1]
    assert all(t for t in out["tokens"][:, 0].ravel())


def test_finetuning_on_three_classes_without_a_schema(classified):
    summary = classified["summary"]
    assert summary["labels"] == list(SOURCES)  # from the train split, sorted
    assert summary["blessed"] and summary["pushed"]
    assert summary["eval_metrics"]["accuracy"] >= 0.4
    schema = os.path.join(classified["run_dir"], "labelled_schema.pbtxt")
    assert f"the schema is {schema}" in classified["stdout"]
    from pipeline.jobs.text_classification import schema_labels

    assert schema_labels(schema) == list(SOURCES)


def test_task_adaptive_pretraining_sits_between_the_pretrained_and_the_classifier(
        adapted, classified):
    """--adapt-steps: an MLM Trainer on the task's texts (AdaptTokenize's windows) starts from
    the pretrained model, and the classifier starts from what it made; ML Metadata shows it."""
    store = _store(classified["run_dir"])
    base_models, adapted_models = [], []
    for event in store.get_events_by_execution_ids([e.id for e in store.get_executions()]):
        artifact, = store.get_artifacts_by_id([event.artifact_id])
        key = event.path.steps[0].key
        if event.type == mlmd.proto.Event.INPUT and key == "base_model":
            base_models.append(artifact.uri)
        if event.type == mlmd.proto.Event.OUTPUT and "/AdaptTrainer/model/" in artifact.uri:
            adapted_models.append(artifact.uri)
    adapted_model, = adapted_models
    pretrained, = [uri for uri in base_models if uri != adapted_model]
    assert pretrained.startswith(adapted["run_dir"])  # the continued-pretraining run's model
    assert sorted(base_models) == sorted([pretrained, adapted_model])
    assert "adapted to the train texts (20 MLM steps)" in classified["stdout"]


def test_the_served_classifier_answers_raw_text_in_a_tf1_session(classified):
    session = tf.compat.v1.Session(graph=tf.Graph())
    meta = tf.compat.v1.saved_model.loader.load(session, ["serve"],
                                                classified["summary"]["pushed_model"])
    sig = meta.signature_def["serving_default"]
    texts = ["Anarchism is a political philosophy.", "The police said on Tuesday.", ""]
    out = session.run({k: v.name for k, v in sig.outputs.items()}, {sig.inputs["text"].name: texts})
    assert out["probabilities"].shape == (3, 3)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    assert {label.decode() for label in out["label"]} <= set(SOURCES)


def pair_file(path, pairs=400):
    """Text pairs from the bundled corpus: two sentences, `same` if they come from the same
    source file, else `different` (a real-text stand-in for paraphrase or entailment data)."""
    sentences = {}
    for name in SOURCES:
        with open(os.path.join(REPO, "data", "corpus", f"{name}.txt"), encoding="utf-8") as f:
            sentences[name] = [s.strip() for line in f for s in line.split(". ")
                               if 30 < len(s.strip()) < 200 and "\t" not in s]
    rng = random.Random(1)
    with open(path, "w", encoding="utf-8") as f:
        f.write("first\tsecond\tlabel\n")
        for i in range(pairs):
            a = rng.choice(SOURCES)
            b = a if i % 2 else rng.choice([s for s in SOURCES if s != a])
            f.write(f"{rng.choice(sentences[a])}\t{rng.choice(sentences[b])}\t"
                    f"{'same' if a == b else 'different'}\n")
    return path


def test_finetuning_text_pairs_straight_from_the_hugging_face_checkpoint(tmp_path):
    run_dir = str(tmp_path / "run")
    data = pair_file(str(tmp_path / "pairs.tsv"))
    _run("finetune", "--data", data, "--text-column", "first", "--text-pair-column", "second",
         "--pretrained", CHECKPOINT, "--run-dir", run_dir, "--seq-length", "48",
         "--batch-size", "16", "--train-steps", "30", "--checkpoint-every", "30",
         "--eval-steps", "2", "--min-accuracy", "0.0", "--labels", "same,different")
    summary = _summary(run_dir, "finetune")
    assert summary["pretrained_model"] == CHECKPOINT and summary["pushed"]
    assert summary["labels"] == ["same", "different"]  # --labels' order
    checkpoint, = _store(run_dir).get_artifacts_by_type("lmpipe.BertCheckpoint")
    assert checkpoint.uri == CHECKPOINT
    session = tf.compat.v1.Session(graph=tf.Graph())
    meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], summary["pushed_model"])
    sig = meta.signature_def["serving_default"]
    assert sorted(sig.inputs) == ["text", "text_pair"]
    out = session.run({k: v.name for k, v in sig.outputs.items()},
                      {sig.inputs["text"].name: ["The jury said.", "Anarchism is old."],
                       sig.inputs["text_pair"].name: ["The court agreed.", "It rained."]})
    assert out["probabilities"].shape == (2, 2)
    predictions = tmp_path / "predictions.jsonl"
    _run("predict", "--model-dir", summary["pushed_model"], "--pairs", "--output",
         str(predictions), "The jury said.\tThe court agreed.")
    row, = [json.loads(line) for line in open(predictions)]
    assert row["text_pair"] == "The court agreed." and row["label"] in ("same", "different")
    np.testing.assert_allclose(row["probabilities"], out["probabilities"][0], atol=1e-5)


def test_a_model_no_better_than_its_starting_point_is_not_pushed(adapted):
    """A rerun that barely trains (the data steps are cached) scores as the checkpoint does:
    not blessed, nothing pushed, the earlier version untouched."""
    serving = os.path.join(adapted["run_dir"], "serving", "mlm")
    before = sorted(os.listdir(serving))
    result = run_lmpipe("pretrain", "--corpus", os.path.join(os.path.dirname(adapted["run_dir"]),
                                                             "corpus"),
                        "--run-dir", adapted["run_dir"], "--init-from", CHECKPOINT,
                        "--seq-length", "64", "--max-predictions", "8", "--batch-size", "16",
                        "--train-steps", "1", "--checkpoint-every", "1", "--eval-steps", "5",
                        "--learning-rate", "1e-12", "--min-masked-accuracy", "0.0")
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-3000:]
    assert "against the starting checkpoint; it must improve on it" in result.stderr
    assert "Nothing was pushed" in result.stderr
    assert sorted(os.listdir(serving)) == before
