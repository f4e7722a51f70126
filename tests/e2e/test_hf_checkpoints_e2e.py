"""Checkpoints as transformers 5 and sentence-transformers save them, end to end (issue 22):
a fine-tuned classifier imported and served in one command, fine-tuning from a
sentence-transformers directory and from a fine-tuned classifier (its head kept)."""

import json
import os

import numpy as np
import pytest

from tests.conftest import REPO, run_lmpipe

pytestmark = pytest.mark.e2e

DATA = os.path.join(REPO, "tests", "data", "hf_checkpoints")
TINY = ["--seq-length", "32", "--batch-size", "8", "--train-steps", "10", "--checkpoint-every",
        "10", "--eval-steps", "2", "--min-accuracy", "0"]


def _sentences(indices):
    with open(os.path.join(DATA, "sentences.txt"), encoding="utf-8") as f:
        sentences = [json.loads(line) for line in f]
    return [sentences[i] for i in indices]


def _summary(run_dir, job):
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)[job]


# The BERT classifier's import is the same code (its parity and TF1 serving are unit tests in
# tests/models/checkpoints/test_hf_checkpoints.py); one pipeline run here keeps CI short.
@pytest.mark.parametrize("name,classes", [("distilbert_classifier", ["spam", "ham"])])
def test_a_fine_tuned_classifier_is_served_in_one_command(tmp_path, name, classes):
    run_dir = str(tmp_path / "run")
    result = run_lmpipe("import", "--checkpoint", os.path.join(DATA, name), "--run-dir", run_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    summary = _summary(run_dir, "import")
    assert summary["task"] == "text_classification" and summary["pushed"]
    assert summary["classes"] == classes
    assert os.path.dirname(summary["pushed_model"]) == os.path.join(run_dir, "serving", "classifier")
    assert "a fine-tuned classifier, served as one" in result.stdout
    expected = np.load(os.path.join(DATA, name, "expected.npz"))
    texts = tmp_path / "texts.txt"
    picked = [i for i in range(30, 40)]
    texts.write_text("".join(s + "\n" for s in _sentences(expected["clf_index"][picked])),
                     encoding="utf-8")
    result = run_lmpipe("predict", "--model-dir", os.path.dirname(summary["pushed_model"]),
                        "--input", str(texts))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["classes"] for r in rows] == [summary["classes"]] * len(picked)
    np.testing.assert_allclose([r["probabilities"] for r in rows], expected["probs"][picked],
                               atol=1e-4)


def _labelled(path, classes, rows=48):
    sentences = _sentences(range(100, 100 + rows))
    with open(path, "w", encoding="utf-8") as f:
        f.write("label\ttext\n")
        for i, text in enumerate(sentences):
            f.write(f"{classes[i % len(classes)]}\t{text.replace(chr(9), ' ') or 'empty'}\n")
    return path


def test_finetuning_from_a_sentence_transformers_directory_takes_its_pooling(tmp_path):
    run_dir = str(tmp_path / "run")
    data = _labelled(str(tmp_path / "data.tsv"), ["a", "b"])
    result = run_lmpipe("finetune", "--data", data, "--pretrained",
                        os.path.join(DATA, "st_subfolder"), "--run-dir", run_dir, *TINY)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    summary = _summary(run_dir, "finetune")
    assert summary["config"]["pooling"] == "cls" and summary["pushed"]
    assert summary["pooling_from"] == "the sentence-transformers checkpoint's Pooling module"
    assert "--pooling cls, from the sentence-transformers checkpoint's Pooling module" in result.stdout


def test_finetuning_from_a_fine_tuned_classifier_keeps_its_head(tmp_path):
    """At a negligible learning rate the fine-tuned model is the checkpoint's: the pushed
    classifier answers as Hugging Face's pipeline does on the checkpoint (head kept: a
    DistilBertForSequenceClassification's pre_classifier and classifier; the BERT classifier's
    head is the same code with the pooler in the encoder)."""
    run_dir = str(tmp_path / "run")
    data = _labelled(str(tmp_path / "data.tsv"), ["spam", "ham"])
    flags = list(TINY)
    flags += ["--learning-rate", "1e-9", "--dropout", "0.0"]
    result = run_lmpipe("finetune", "--data", data, "--pretrained",
                        os.path.join(DATA, "distilbert_classifier"), "--run-dir", run_dir,
                        "--labels", "spam,ham", *flags)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    summary = _summary(run_dir, "finetune")
    assert summary["config"]["pooling"] == "cls"
    assert summary["classifier_head"] == "the checkpoint's (its id2label is the data's classes)"
    assert "classifier head   the checkpoint's" in result.stdout
    expected = np.load(os.path.join(DATA, "distilbert_classifier", "expected.npz"))
    short = [i for i in range(200) if expected["token_lengths"][expected["clf_index"][i]] <= 32
             and "[PAD]" not in _sentences([expected["clf_index"][i]])[0]][:20]
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(s + "\n" for s in _sentences(expected["clf_index"][short])),
                     encoding="utf-8")
    result = run_lmpipe("predict", "--model-dir", os.path.dirname(summary["pushed_model"]),
                        "--input", str(texts))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.split("\n") if line]
    np.testing.assert_allclose([r["probabilities"] for r in rows], expected["probs"][short],
                               atol=1e-3)
