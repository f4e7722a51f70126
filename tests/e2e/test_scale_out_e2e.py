"""Scale out, run for real on this machine: two-worker MultiWorkerMirroredStrategy training on
localhost, and a training run killed with SIGKILL that resumes from its last checkpoint when
the pipeline is rerun."""

import dataclasses
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from pipeline.config import PretrainConfig
from pipeline.tfx_pipeline import trainer_config
from tests.conftest import LMPIPE, REPO, TINY_PRETRAIN_FLAGS, tiny_corpus

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def latest(pattern: str) -> str:
    return max(glob.glob(pattern), key=lambda p: int(os.path.basename(p)))


def test_multi_worker_training_two_workers_step_together(pretrain_run, tmp_path):
    root = pretrain_run["summary"]["pipeline_root"]
    examples = latest(os.path.join(root, "MlmMasker", "masked_examples", "*"))
    cfg = dataclasses.replace(
        PretrainConfig(**pretrain_run["summary"]["config"]), strategy="multi_worker",
        run_dir=str(tmp_path / "run"), train_steps=20, checkpoint_every=10, eval_steps=2,
        batch_size=16)
    model_dir = tmp_path / "model"
    fn_args = {
        "train_files": [os.path.join(examples, "Split-train", "*")],
        "eval_files": [os.path.join(examples, "Split-eval", "*")],
        "transform_output": latest(os.path.join(root, "Tokenize", "transform_graph", "*")),
        "serving_model_dir": str(model_dir / "Format-Serving"),
        "model_run_dir": str(tmp_path / "model_run"),
        "custom_config": trainer_config(cfg),
    }
    args_path = tmp_path / "fn_args.json"
    args_path.write_text(json.dumps(fn_args))
    workers = [f"localhost:{free_port()}", f"localhost:{free_port()}"]
    tasks = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({
            "cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        log = open(tmp_path / f"worker-{index}.log", "w")
        tasks.append((subprocess.Popen(
            [sys.executable, os.path.join(REPO, "tests", "e2e", "multi_worker_task.py"),
             str(args_path)],
            env=env, stdout=log, stderr=subprocess.STDOUT), log))
    for process, log in tasks:
        try:
            process.wait(timeout=600)
        finally:
            process.kill()
            log.close()
    logs = [open(tmp_path / f"worker-{i}.log").read() for i in range(2)]
    for (process, _), text in zip(tasks, logs):
        assert process.returncode == 0, text[-5000:]

    chief = json.loads((tmp_path / "model_run" / "train_summary.json").read_text())
    worker = json.loads((tmp_path / "model_run" / "workers" / "1" / "train_summary.json").read_text())
    for summary in (chief, worker):
        assert summary["replicas"] == 2 and summary["steps"] == 20
    # Stepping together = the same all-reduced updates = the same weights on both workers.
    assert chief["weights_checksum"] == pytest.approx(worker["weights_checksum"], rel=1e-6)
    assert chief["loss"] == pytest.approx(worker["loss"], rel=1e-5)
    # Only the chief writes the model; the other worker's export scratch is gone.
    assert (model_dir / "Format-Serving" / "saved_model.pb").exists()
    assert (model_dir / "encoder" / "model.weights.h5").exists()
    assert not (tmp_path / "model_run" / "workers" / "1" / "export").exists()


RESUME_STEPS, RESUME_EVERY = 600, 100  # six epochs: killed after the first, resumed to the end


def test_resume_after_sigkill_continues_from_the_last_checkpoint(tmp_path):
    corpus = tiny_corpus(str(tmp_path / "corpus"), chars_per_file=8_000)
    run_dir = tmp_path / "run"
    flags = list(TINY_PRETRAIN_FLAGS)
    flags[flags.index("--train-steps") + 1] = str(RESUME_STEPS)
    flags[flags.index("--checkpoint-every") + 1] = str(RESUME_EVERY)
    # This test is about resuming: 600 steps on a 24 KB corpus learn it by heart, so the eval
    # masked accuracy (about 0.03-0.06, depending on the vocabulary) is no gate here.
    flags[flags.index("--min-masked-accuracy") + 1] = "0.0"
    command = [LMPIPE, "pretrain", "--corpus", corpus, "--run-dir", str(run_dir), *flags]

    # First run: kill it (SIGKILL, no chance to clean up) once a backup exists.
    log = open(tmp_path / "killed.log", "w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    pattern = str(run_dir / "pipeline" / "train_backup" / "*" / "training_metadata.json")
    deadline = time.time() + 900
    while not glob.glob(pattern):
        assert process.poll() is None, open(tmp_path / "killed.log").read()[-5000:]
        assert time.time() < deadline, "no backup was written"
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    log.close()
    with open(glob.glob(pattern)[0]) as f:
        epochs_done = json.load(f)["epoch"]
    assert 1 <= epochs_done < RESUME_STEPS // RESUME_EVERY, "killed after training ended"
    assert not (run_dir / "summary.json").exists()

    # Rerun the same command: upstream steps come from the cache, training resumes; a
    # profile of two steps is taken on the way.
    result = subprocess.run(command + ["--profile-steps", "3,4"], capture_output=True,
                            text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    training = json.loads((run_dir / "summary.json").read_text())["pretrain"]["training"]
    assert training["steps"] == RESUME_STEPS  # the same step count as an uninterrupted run
    assert training["resumed_from_step"] == epochs_done * RESUME_EVERY  # not from 0
    assert "Resuming from" in result.stderr
    assert not glob.glob(pattern), "the backup is removed once training has finished"
    model_runs = glob.glob(str(run_dir / "pipeline" / "Trainer" / "model_run" / "*"))
    newest = max(model_runs, key=lambda p: int(os.path.basename(p)))
    assert glob.glob(os.path.join(newest, "**", "plugins", "profile", "*"), recursive=True)
