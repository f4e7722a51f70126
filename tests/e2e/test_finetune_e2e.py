"""End to end fine-tuning: one real run shared by all assertions, on top of the session's
pretraining run; then the pushed classifier queried the way TF Serving loads it."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer's ops before loading models)

from tests.conftest import REPO, TINY_FINETUNE_FLAGS, read_warmup_requests, run_lmpipe

pytestmark = pytest.mark.e2e


def test_summary_metrics_blessing_and_push(finetune_run):
    summary = finetune_run["summary"]
    assert summary["labels"] == ["negative", "positive"]
    assert summary["blessed"] and summary["pushed"] and summary["not_blessed_because"] == []
    assert summary["pretrained_model"].startswith(finetune_run["pretrain"]["run_dir"])
    metrics = summary["eval_metrics"]
    assert metrics["accuracy"] >= 0.8
    for name in ("precision", "recall", "f1_score", "auc"):
        assert 0 <= metrics[f"{name}/negative"] <= 1 and 0 <= metrics[f"{name}/positive"] <= 1
        assert f"macro_{name}" in metrics
    assert metrics["macro_f1_score"] == pytest.approx(
        (metrics["f1_score/negative"] + metrics["f1_score/positive"]) / 2, abs=1e-6)
    matrix = summary["confusion_matrix"]
    assert sum(sum(row.values()) for row in matrix.values()) == metrics["example_count"]
    correct = matrix["negative"]["negative"] + matrix["positive"]["positive"]
    assert correct / metrics["example_count"] == pytest.approx(metrics["accuracy"], abs=1e-6)
    assert summary["slices"] and all(k.startswith("length_bucket=") for k in summary["slices"])
    assert sum(s["example_count"] for s in summary["slices"].values()) == metrics["example_count"]
    # The test split: the pushed model, scored once after the run, apart from the blessing.
    test = summary["test_metrics"]
    assert test["example_count"] > 0 and 0 <= test["accuracy"] <= 1
    assert test["macro_f1"] == pytest.approx(sum(test["f1"].values()) / 2)
    assert "test accuracy" in finetune_run["stdout"]
    version = summary["pushed_model"]
    assert os.path.dirname(version) == os.path.join(finetune_run["run_dir"], "serving", "classifier")
    # What was read: every row of the file, and each split's examples as ExampleGen wrote them.
    given = summary["input"]
    assert (given["files"], given["rows"], given["bytes"]) == (
        1, 480, os.path.getsize(finetune_run["data"]))
    splits = summary["input_splits"]
    assert set(splits) == {"train", "eval", "test"}
    assert sum(s["examples"] for s in splits.values()) == 480
    assert splits["eval"]["examples"] == metrics["example_count"]
    assert splits["test"]["examples"] == test["example_count"]
    assert summary["eval_absent_classes"] == [] and test["absent_classes"] == []
    assert "input             1 file, 480 rows" in finetune_run["stdout"]


def _load_tf1(path):
    session = tf.compat.v1.Session(graph=tf.Graph())
    meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
    return session, meta.signature_def


def test_pushed_classifier_answers_raw_text_in_a_tf1_session(finetune_run):
    session, signatures = _load_tf1(finetune_run["summary"]["pushed_model"])
    assert {"serving_default", "transform_features", "predict_examples"} <= set(signatures)
    sig = signatures["serving_default"]
    assert list(sig.inputs) == ["text"]
    assert set(sig.outputs) == {"probabilities", "classes", "label", "score", "windows",
                                "truncated"}
    texts = ["he a moving and funny film .", "she dull , flat and far too long .", ""]
    out = session.run({k: v.name for k, v in sig.outputs.items()}, {sig.inputs["text"].name: texts})
    assert out["probabilities"].shape == (3, 2)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out["score"], out["probabilities"].max(axis=1), rtol=1e-6)
    assert [label.decode() for label in out["label"][:2]] == ["positive", "negative"]
    assert out["classes"].tolist() == [[b"negative", b"positive"]] * 3  # each column named
    assert out["windows"].tolist() == [1] * 3 and not out["truncated"].any()


def test_warmup_requests_parse_and_run(finetune_run):
    model_dir = finetune_run["summary"]["pushed_model"]
    logs = read_warmup_requests(model_dir)
    assert len(logs) == 2
    session, signatures = _load_tf1(model_dir)
    sig = signatures["serving_default"]
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        assert request.model_spec.name == "classifier"
        texts = tf.make_ndarray(request.inputs["text"])
        out = session.run(sig.outputs["label"].name, {sig.inputs["text"].name: texts})
        assert len(out) == len(texts)


def test_tensorboard_logs_and_encoder_weights_came_from_pretraining(finetune_run):
    run_dirs = glob.glob(os.path.join(finetune_run["summary"]["pipeline_root"], "Trainer",
                                      "model_run", "*"))
    tags = set()
    for event_file in glob.glob(os.path.join(run_dirs[0], "**", "events.out.tfevents.*"),
                                recursive=True):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            tags.update(v.tag for v in event.summary.value)
    assert {"epoch_loss", "epoch_accuracy", "learning_rate"} <= tags
    assert finetune_run["summary"]["training"]["steps"] == 120


def test_changing_only_blessing_and_push_settings_does_not_retrain(finetune_run):
    """Same run directory and training flags, another blessing threshold and version cap: TFX
    reuses the Trainer's output (its cache key holds only training settings) and evaluates and
    pushes again."""
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2
    from tfx import v1 as tfx

    store = mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        finetune_run["summary"]["metadata_path"]))

    def executions(component):
        types = {t.id: t.name for t in store.get_execution_types()}
        return sorted((e for e in store.get_executions() if types[e.type_id].endswith(component)),
                      key=lambda e: e.id)

    models_before = {a.id for a in store.get_artifacts_by_type("Model")}
    trainer_runs, evaluator_runs = len(executions(".Trainer")), len(executions(".Evaluator"))
    flags = list(TINY_FINETUNE_FLAGS)
    flags[flags.index("--min-accuracy") + 1] = "0.5"
    result = run_lmpipe("finetune", "--data", finetune_run["data"],
                        "--pretrained", finetune_run["pretrain"]["run_dir"],
                        "--run-dir", finetune_run["run_dir"], *flags, "--max-versions", "5")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]

    trainer, evaluator = executions(".Trainer"), executions(".Evaluator")
    assert len(trainer) == trainer_runs + 1 and len(evaluator) == evaluator_runs + 1
    assert trainer[-1].last_known_state == metadata_store_pb2.Execution.CACHED
    assert evaluator[-1].last_known_state == metadata_store_pb2.Execution.COMPLETE
    assert {a.id for a in store.get_artifacts_by_type("Model")} == models_before
    with open(os.path.join(finetune_run["run_dir"], "summary.json")) as f:
        summary = json.load(f)["finetune"]
    assert summary["config"]["min_accuracy"] == 0.5 and summary["config"]["max_versions"] == 5
    assert summary["blessed"] and summary["training"]["steps"] == 120
    # This evaluation had a baseline (the first run's blessed model, the same model): TFMA named
    # the models candidate and baseline, and the summary still reads the candidate's results,
    # so they equal the first run's.
    from pipeline.run_summary import eval_result

    evaluation = max(store.get_artifacts_by_type("ModelEvaluation"), key=lambda a: a.id)
    names = {spec.name for spec in eval_result(evaluation.uri).config.model_specs}
    assert names == {"candidate", "baseline"}
    first = finetune_run["summary"]
    assert summary["confusion_matrix"] == first["confusion_matrix"]
    assert sum(sum(row.values()) for row in summary["confusion_matrix"].values()) > 0
    assert summary["eval_metrics"]["accuracy"] == pytest.approx(first["eval_metrics"]["accuracy"])
    assert summary["slices"] == first["slices"]


def _retrain(finetune_run, *overrides):
    flags = list(TINY_FINETUNE_FLAGS)
    for name, value in zip(overrides[::2], overrides[1::2]):
        if name in flags:
            flags[flags.index(name) + 1] = value
        else:
            flags += [name, value]
    serving = os.path.dirname(finetune_run["summary"]["pushed_model"])
    before = sorted(os.listdir(serving))
    result = run_lmpipe("finetune", "--data", finetune_run["data"],
                        "--pretrained", finetune_run["pretrain"]["run_dir"],
                        "--run-dir", finetune_run["run_dir"], *flags)
    assert sorted(os.listdir(serving)) == before, "nothing new may be pushed"
    assert os.path.isfile(os.path.join(finetune_run["summary"]["pushed_model"], "saved_model.pb"))
    with open(os.path.join(finetune_run["run_dir"], "summary.json")) as f:
        return result, json.load(f)["finetune"]


def test_a_regressing_retrain_is_blocked_and_the_reason_reported(finetune_run):
    result, summary = _retrain(finetune_run, "--train-steps", "2", "--checkpoint-every", "2",
                               "--min-accuracy", "0.0", "--max-regression", "0.05")
    assert result.returncode != 0
    assert not summary["blessed"] and not summary["pushed"]
    assert any("against the latest blessed model" in r for r in summary["not_blessed_because"])
    assert "accuracy changed by" in result.stderr and "Nothing was pushed" in result.stderr


def test_a_model_below_the_threshold_is_not_pushed(finetune_run):
    result, summary = _retrain(finetune_run, "--train-steps", "2", "--checkpoint-every", "2",
                               "--min-accuracy", "0.95", "--max-regression", "1.0")
    assert result.returncode != 0
    assert not summary["pushed"]
    assert any("is below the required 0.9500" in r for r in summary["not_blessed_because"])


def test_data_anomalies_stop_the_run_before_tokenizing(finetune_run, tmp_path):
    """A schema the data breaks (a required feature the files do not have): ExampleValidator
    finds it, the run stops at Tokenize's door with the anomaly named, nothing is pushed."""
    schema = tmp_path / "strict.pbtxt"
    with open(os.path.join(REPO, "schemas",
                           "labelled.pbtxt")) as f:
        schema.write_text(f.read() + 'feature { name: "review_id" type: INT '
                          'presence { min_fraction: 1.0 min_count: 1 } }\n')
    run_dir = tmp_path / "run"
    result = run_lmpipe("finetune", "--data", finetune_run["data"],
                        "--pretrained", finetune_run["pretrain"]["run_dir"],
                        "--run-dir", str(run_dir), "--schema-file", str(schema),
                        *TINY_FINETUNE_FLAGS)
    assert result.returncode != 0
    assert "ExampleValidator found" in result.stderr and "review_id" in result.stderr
    assert not glob.glob(os.path.join(run_dir, "pipeline", "Trainer", "*", "*"))
    assert not os.path.exists(os.path.join(run_dir, "serving"))
