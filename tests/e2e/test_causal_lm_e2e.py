"""End to end, the causal LM (GPT-2): `lmpipe pretrain --objective causal` on a slice of the
bundled corpus (blessed and pushed, generation served in a TF1 session), continued pretraining
from the committed GPT-2 checkpoint (tests/data/gpt2_parity), and `lmpipe import` of it."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO, read_warmup_requests, run_lmpipe, tiny_corpus
from tests.models.export_helpers import load_tf1, run

pytestmark = pytest.mark.e2e

GPT2 = os.path.join(REPO, "tests", "data", "gpt2_parity", "checkpoint")
FLAGS = ["--objective", "causal", "--seq-length", "32", "--batch-size", "16",
         "--checkpoint-every", "100", "--eval-steps", "5", "--learning-rate", "2e-3",
         "--max-new-tokens", "8"]


def _summary(run_dir):
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)


def _latest_version(model_dir):
    return os.path.join(model_dir, max(os.listdir(model_dir), key=int))


@pytest.fixture(scope="module")
def causal_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("causal")
    corpus = tiny_corpus(str(root / "corpus"))
    run_dir = str(root / "run")
    result = run_lmpipe("pretrain", "--corpus", corpus, "--run-dir", run_dir, "--vocab-size",
                        "400", "--train-steps", "200", *FLAGS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return {"run_dir": run_dir, "corpus": corpus, "stdout": result.stdout,
            "summary": _summary(run_dir)["pretrain"]}


def test_the_run_is_summarized_blessed_and_pushed(causal_run):
    summary = causal_run["summary"]
    assert summary["objective"] == "causal" and summary["vocab_size"] == 400
    assert summary["blocks"] > 100
    metrics = summary["eval_metrics"]
    # Blessed below the default ceiling, the vocabulary size (a uniform guess's perplexity).
    assert 1 < metrics["perplexity"] < 400
    assert metrics["perplexity"] == pytest.approx(np.exp(metrics["token_loss"]), rel=1e-4)
    assert 0 < metrics["next_token_accuracy"] < 1
    assert summary["blessed"] and summary["pushed"]
    assert summary["pushed_model"].startswith(os.path.join(causal_run["run_dir"], "serving",
                                                           "clm"))
    for line in ("== lmpipe pretrain --objective causal: summary ==", "byte-level BPE",
                 "eval perplexity", "blessed           True"):
        assert line in causal_run["stdout"]


def test_generation_is_served_from_raw_prompts_in_a_tf1_session(causal_run):
    version = _latest_version(os.path.join(causal_run["run_dir"], "serving", "clm"))
    session, signatures = load_tf1(version)
    assert set(signatures) >= {"serving_default", "generate", "score", "lm_eval"}
    prompts = ["The city", "", "In the year"]
    out = run(session, signatures["serving_default"], prompt=prompts)
    assert out["token_count"].tolist() and all(0 <= n <= 8 for n in out["token_count"])
    assert any(n > 0 for n in out["token_count"])
    greedy = run(session, signatures["generate"], prompt=prompts, max_new_tokens=[8] * 3,
                 temperature=[0.0] * 3, top_k=[0] * 3, top_p=[1.0] * 3, seed=[0] * 3)
    assert greedy["text"].tolist() == out["text"].tolist()  # serving_default is greedy
    scored = run(session, signatures["score"], text=["The city council said.", "zzqx"])
    assert (scored["token_count"] > 0).all() and (scored["perplexity"] > 1).all()
    for log in read_warmup_requests(version):
        request = log.predict_log.request
        assert request.model_spec.name == "clm" and list(request.inputs) == ["prompt"]


def test_predict_prints_continuations(causal_run):
    model_dir = os.path.join(causal_run["run_dir"], "serving", "clm")
    result = run_lmpipe("predict", "--model-dir", model_dir, "The city", "In the year",
                        "--temperature", "0.8", "--top-k", "20", "--seed", "5")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["text"] for row in rows] == ["The city", "In the year"]
    assert all(set(row) == {"text", "generated_text", "token_count"} for row in rows)
    assert all(row["token_count"] <= 8 for row in rows)
    again = run_lmpipe("predict", "--model-dir", model_dir, "The city", "In the year",
                       "--temperature", "0.8", "--top-k", "20", "--seed", "5")
    assert again.stdout == result.stdout  # seeded


def test_continued_pretraining_from_the_gpt2_checkpoint(causal_run, tmp_path):
    run_dir = str(tmp_path / "continued")
    result = run_lmpipe("pretrain", "--corpus", causal_run["corpus"], "--run-dir", run_dir,
                        "--init-from", GPT2, "--train-steps", "100", *FLAGS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    summary = _summary(run_dir)["pretrain"]
    assert summary["vocab_size"] == 512  # the checkpoint's vocabulary, not a learned one
    start = summary["start_eval_metrics"]["perplexity"]
    assert summary["eval_metrics"]["perplexity"] < start  # blessed only if better
    assert summary["blessed"] and summary["pushed"]
    assert "continuing causal pretraining from the huggingface GPT-2 checkpoint" in result.stdout


def test_import_serves_the_gpt2_checkpoint(tmp_path):
    run_dir = str(tmp_path / "import")
    result = run_lmpipe("import", "--checkpoint", GPT2, "--run-dir", run_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    summary = _summary(run_dir)["import"]
    assert summary["task"] == "causal_lm" and summary["positions"] == 64
    assert summary["pushed_model"].startswith(os.path.join(run_dir, "serving", "clm"))
    served = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "predict", "--model-dir",
         os.path.join(run_dir, "serving", "clm"), "--max-new-tokens", "5", "The city"],
        capture_output=True, text=True, cwd=REPO)
    assert served.returncode == 0, served.stderr[-3000:]
    row = json.loads(served.stdout)
    assert row["text"] == "The city" and 0 < row["token_count"] <= 5 and row["generated_text"]
