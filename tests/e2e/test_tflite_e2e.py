"""`lmpipe export-tflite` on the classifier the shared fine-tuning run pushed: the TFLite model
takes raw strings, agrees with the SavedModel on the eval split, and bad options are refused."""

import json
import os

import numpy as np
import pytest

from tests.conftest import run_lmpipe

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def exported(finetune_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("tflite")
    reports = {}
    for mode in ("none", "int8"):
        out = str(root / mode)
        result = run_lmpipe("export-tflite", "--model-dir", finetune_run["summary"]["pushed_model"],
                            "--out", out, "--quantize", mode, "--run-dir", finetune_run["run_dir"])
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
        with open(os.path.join(out, "report.json")) as f:
            reports[mode] = {"out": out, "report": json.load(f), "stdout": result.stdout}
    return reports


def test_the_float_model_agrees_with_the_saved_model_on_the_eval_split(exported, finetune_run):
    report = exported["none"]["report"]
    scores = report["eval_split"]
    assert scores["saved_model"]["example_count"] == scores["tflite"]["example_count"] > 20
    assert scores["label_agreement"] >= 0.95 and scores["faithful"]
    assert abs(scores["tflite"]["accuracy"] - scores["saved_model"]["accuracy"]) <= 0.05
    # The SavedModel's eval accuracy here is the one the Evaluator measured.
    evaluator = finetune_run["summary"]["eval_metrics"]["accuracy"]
    assert scores["saved_model"]["accuracy"] == pytest.approx(evaluator, abs=1e-6)
    assert "labels agree on" in exported["none"]["stdout"]
    labels = open(os.path.join(exported["none"]["out"], "labels.txt")).read().split()
    assert labels == finetune_run["summary"]["labels"]


def test_int8_is_smaller_and_its_agreement_is_reported(exported):
    lite, quantized = exported["none"]["report"], exported["int8"]["report"]
    assert quantized["size_mb"] < lite["size_mb"] / 2
    assert 0.0 <= quantized["eval_split"]["label_agreement"] <= 1.0
    assert quantized["eval_split"]["tflite"]["example_count"] > 20


def test_the_tflite_model_answers_raw_strings_in_python(exported, finetune_run):
    from models.text_classification.tflite import TFLiteClassifier

    model = TFLiteClassifier(os.path.join(exported["none"]["out"], "model.tflite"))
    probabilities = model.predict(["he a gripping, beautifully acted film", "she dull", ""])
    assert probabilities.shape == (3, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    labels = finetune_run["summary"]["labels"]
    # The fixture's reviews carry a cue word: 'he' positive, 'she' negative.
    assert labels[int(np.argmax(probabilities[0]))] == "positive"
    assert labels[int(np.argmax(probabilities[1]))] == "negative"


def test_bad_options_are_refused(finetune_run, tmp_path):
    model_dir = finetune_run["summary"]["pushed_model"]
    result = run_lmpipe("export-tflite", "--model-dir", model_dir, "--out", str(tmp_path / "a"),
                        "--quantize", "fp16")
    assert result.returncode == 2 and "use one of none, dynamic, int8" in result.stderr
    result = run_lmpipe("export-tflite", "--model-dir", model_dir, "--out", str(tmp_path / "b"),
                        "--quantize", "int8")
    assert result.returncode == 2 and "calibrates on texts" in result.stderr
    assert not os.path.exists(tmp_path / "b" / "model.tflite")
