"""The serving kit on the session's real pushed models: `lmpipe predict --model-dir`, op checks
(TF Serving cannot run Python), `saved_model_cli` on the classifier, awkward inputs, and a
models.config for the real serving directory."""

import json
import os
import subprocess

import pytest

from serving import model_config, ops, predict
from tests.conftest import LMPIPE, SAVED_MODEL_CLI, read_warmup_requests

pytestmark = pytest.mark.e2e


def classifier_dir(finetune_run):
    return os.path.dirname(finetune_run["summary"]["pushed_model"])  # <serving>/classifier


def test_lmpipe_predict_model_dir_prints_label_and_probabilities(finetune_run, tmp_path):
    lines = tmp_path / "texts.txt"
    lines.write_bytes(b"he a warm and funny film .\nshe flat and caf\xe9 dull .\n")
    result = subprocess.run([LMPIPE, "predict", "--model-dir", classifier_dir(finetune_run),
                             "he a moving film .", "--input", str(lines)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows][0] == "he a moving film ."
    assert len(rows) == 3 and rows[2]["text"] == "she flat and caf\ufffd dull ."
    for row in rows:
        assert row["label"] in ("negative", "positive")
        assert len(row["probabilities"]) == 2
        assert abs(sum(row["probabilities"]) - 1) < 1e-4
    assert [r["label"] for r in rows] == ["positive", "positive", "negative"]


def test_awkward_inputs_get_answers(finetune_run):
    predictor = predict.LocalPredictor(classifier_dir(finetune_run), batch_size=512)
    texts = ["", "he " + "very " * 5000 + "good .", b"\xff\xfe not utf-8", " ", "\u2603 snow"]
    results = predictor.predict(texts)
    assert len(results) == len(texts)
    assert all(r["label"] in ("negative", "positive") for r in results)
    many = predictor.predict(["he fine ."] * 10_000)  # batched, not one huge tensor
    assert len(many) == 10_000 and {r["label"] for r in many} == {"positive"}


def test_an_answer_does_not_depend_on_the_batch_it_came_in(finetune_run):
    # serving_default trims padding to the batch's longest text: a short review must get the
    # same probabilities alone and next to a long one.
    predictor = predict.LocalPredictor(classifier_dir(finetune_run))
    short, long = "he a warm film .", "she " + "flat and dull , " * 40 + "."
    alone = predictor.predict([short])[0]["probabilities"]
    together = predictor.predict([long, short])[1]["probabilities"]
    assert alone == pytest.approx(together, abs=1e-5)


@pytest.mark.parametrize("model", ["pretrain", "finetune"])
def test_serving_graph_uses_only_core_and_tensorflow_text_ops(finetune_run, model):
    run = finetune_run["pretrain"] if model == "pretrain" else finetune_run
    model_dir = run["summary"]["pushed_model"]
    found = ops.saved_model_ops(model_dir)
    assert ops.unservable_ops(model_dir) == {}
    sources = ops.op_sources(found)
    # BERT's word split, accent stripping (an uncased vocabulary) and wordpieces.
    assert {"RegexSplitWithOffsets", "NormalizeUTF8", "FastWordpieceTokenizeWithOffsets"} <= \
        {op for op, source in sources.items() if source == "tensorflow_text"}
    assert not found & ops.PYTHON_OPS


def test_saved_model_cli_runs_the_classifier(finetune_run):
    result = subprocess.run(
        [*SAVED_MODEL_CLI, "run", "--dir", finetune_run["summary"]["pushed_model"], "--tag_set",
         "serve", "--signature_def", "serving_default",
         "--input_exprs", "text=['he a moving film .', 'she a dull film .']"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "probabilities" in result.stdout and "b'positive'" in result.stdout


def test_serve_config_for_the_real_serving_dir(finetune_run, tmp_path):
    serving = os.path.dirname(classifier_dir(finetune_run))
    output = tmp_path / "models.config"
    result = subprocess.run([LMPIPE, "serve-config", "--serving-dir", serving, "--output",
                             str(output), "--base-path", "/models"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    (entry,) = model_config.parse(output.read_text()).model_config_list.config
    assert entry.name == "classifier" and entry.base_path == "/models/classifier"


def test_fill_mask_warmup_requests_parse_and_run(pretrain_run):
    import tensorflow as tf

    model_dir = pretrain_run["summary"]["pushed_model"]
    logs = read_warmup_requests(model_dir)
    assert len(logs) == 2
    predictor = predict.LocalPredictor(model_dir)
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.name == "mlm"
        texts = [t.decode() for t in tf.make_ndarray(request.inputs["text"])]
        results = predictor.predict(texts)
        assert len(results) == len(texts) and "tokens" in results[0]
