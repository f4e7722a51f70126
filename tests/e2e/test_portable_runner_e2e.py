"""Beam's portability layer under test: a tiny pretraining and a tiny fine-tuning run through
`PortableRunner` (Beam's Python job service, `--job_endpoint=embed`) with SDK workers in a
separate worker pool that the test starts and stops (`--environment_type=EXTERNAL`), the
contract Flink and Spark on Kubernetes use with a Python worker-pool sidecar. Every Beam step's
output must equal a DirectRunner run's with the same settings: the examples, statistics,
vocabulary, tokenized and masked records, and the evaluation.

What this shows: the pipeline protos round-trip, the options serialise, the job API submits,
and every lmpipe Beam step (its DoFns, side inputs, combiners, sinks) runs in a worker process
that shares nothing with the pipeline's. What it does not: a Flink or Spark cluster, their job
servers, Docker workers or Dataflow (none is reachable here)."""

import glob
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, cued_reviews, run_lmpipe, tiny_corpus

pytestmark = pytest.mark.e2e

PRETRAIN = ["--vocab-size", "800", "--lower-thresh", "1", "--seq-length", "64",
            "--max-predictions", "8", "--batch-size", "16", "--train-steps", "40",
            "--checkpoint-every", "20", "--eval-steps", "4", "--learning-rate", "2e-3",
            "--min-masked-accuracy", "0.0", "--top-k", "3"]
FINETUNE = ["--seq-length", "32", "--batch-size", "16", "--train-steps", "30",
            "--checkpoint-every", "15", "--eval-steps", "4", "--learning-rate", "1e-3",
            "--min-accuracy", "0.0"]
DIRECT = ["--beam-arg=--direct_running_mode=in_memory", "--beam-arg=--direct_num_workers=1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def worker_pool():
    """Beam's SDK worker pool in its own process, on lmpipe's environment (it starts each
    worker as `python` from PATH, as the lmpipe image's sidecar would)."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": REPO,
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    pool = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                             f"--service_port={port}"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while True:
        try:
            socket.create_connection(("localhost", port), timeout=1).close()
            break
        except OSError:
            assert pool.poll() is None and time.time() < deadline, "the worker pool did not start"
            time.sleep(0.5)
    yield f"localhost:{port}"
    pool.terminate()
    pool.wait(timeout=60)


def _portable(pool):
    return ["--beam-runner", "PortableRunner", "--beam-arg=--job_endpoint=embed",
            "--beam-arg=--environment_type=EXTERNAL", f"--beam-arg=--environment_config={pool}"]


def _run(*argv):
    result = run_lmpipe(*argv)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


@pytest.fixture(scope="module")
def runs(worker_pool, tmp_path_factory):
    """{runner: {"pretrain": run dir, "finetune": run dir}} for both runners, same settings."""
    root = tmp_path_factory.mktemp("portable")
    corpus = tiny_corpus(str(root / "corpus"))
    data = cued_reviews(str(root / "reviews.tsv"), rows=240)
    out = {}
    for runner, flags in (("portable", _portable(worker_pool)), ("direct", DIRECT)):
        pretrain, finetune = str(root / runner / "pretrain"), str(root / runner / "finetune")
        _run("pretrain", "--corpus", corpus, "--run-dir", pretrain, *PRETRAIN, *flags)
        _run("finetune", "--data", data, "--pretrained", pretrain, "--run-dir", finetune,
             *FINETUNE, *flags)
        out[runner] = {"pretrain": pretrain, "finetune": finetune}
    return out


def _split_records(run_dir, pattern):
    """{split: the tf.Examples of the files matching `pattern`, each serialised
    deterministically (a feature map's order is not), sorted}."""
    import tensorflow as tf

    by_split = {}
    for f in sorted(glob.glob(os.path.join(run_dir, "pipeline", pattern))):
        split = [p for p in f.split(os.sep) if p.startswith("Split-")][0]
        by_split.setdefault(split, []).append(f)
    assert by_split, f"no {pattern} in {run_dir}"
    return {split: sorted(tf.train.Example.FromString(r.numpy()).SerializeToString(
        deterministic=True) for f in files for r in tf.data.TFRecordDataset(
        f, compression_type="GZIP")) for split, files in by_split.items()}


def _statistics(run_dir, component="StatisticsGen"):
    from tensorflow_metadata.proto.v0 import statistics_pb2

    out = {}
    for f in sorted(glob.glob(os.path.join(run_dir, "pipeline", component, "statistics", "*",
                                           "Split-*", "FeatureStats.pb"))):
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        with open(f, "rb") as handle:
            stats.ParseFromString(handle.read())
        out[f.split(os.sep)[-2]] = stats
    assert out, f"no statistics in {run_dir}"
    return out


def _summary(run_dir, job):
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)[job]


@pytest.mark.parametrize("job, patterns", [
    ("pretrain", ["FileBasedExampleGen/examples/*/Split-*/*.gz",
                  "Tokenize/transformed_examples/*/Split-*/*.gz",
                  "MlmMasker/*/*/Split-*/*.gz"]),
    ("finetune", ["FileBasedExampleGen/examples/*/Split-*/*.gz",
                  "Tokenize/transformed_examples/*/Split-*/*.gz"]),
])
def test_every_record_equals_the_direct_runners(runs, job, patterns):
    for pattern in patterns:
        portable = _split_records(runs["portable"][job], pattern)
        direct = _split_records(runs["direct"][job], pattern)
        assert portable.keys() == direct.keys() and len(portable) >= 2, pattern
        for split in direct:
            assert len(portable[split]) == len(direct[split]) > 0, (pattern, split)
            assert portable[split] == direct[split], (pattern, split)


@pytest.mark.parametrize("job", ["pretrain", "finetune"])
def test_statistics_equal_the_direct_runners(runs, job):
    portable, direct = _statistics(runs["portable"][job]), _statistics(runs["direct"][job])
    assert portable.keys() == direct.keys()
    for split in direct:
        assert portable[split] == direct[split], split


def test_the_vocabulary_equals_the_direct_runners(runs):
    def vocabulary(run_dir):
        path, = glob.glob(os.path.join(run_dir, "pipeline", "WordPieceVocabGen", "*", "*",
                                       "vocab.txt"))
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()

    portable = vocabulary(runs["portable"]["pretrain"])
    assert portable == vocabulary(runs["direct"]["pretrain"]) and len(portable) == 800


@pytest.mark.parametrize("job", ["pretrain", "finetune"])
def test_the_evaluation_equals_the_direct_runners_and_the_model_was_pushed(runs, job):
    portable, direct = _summary(runs["portable"][job], job), _summary(runs["direct"][job], job)
    assert portable["eval_metrics"] and portable["eval_metrics"] == direct["eval_metrics"]
    assert portable["training"]["weights_checksum"] == direct["training"]["weights_checksum"]
    assert portable["blessed"] and portable["pushed"]
