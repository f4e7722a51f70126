"""`--tune`, `--hyperparameters-from` and `--tuner-workers` refuse bad input before any work:
exit 2, every problem named with its key, nothing started (no run directory)."""

import json
import os

import pytest

from pipeline import cli
from tests.conftest import REPO, cued_reviews

CHECKPOINT = os.path.join(REPO, "tests", "data", "hf_checkpoints", "st_minilm")


@pytest.fixture
def finetune(tmp_path, capsys):
    data = cued_reviews(str(tmp_path / "reviews.tsv"), rows=60)
    run_dir = tmp_path / "run"

    def run(*extra, task=()):
        code = cli.main(["finetune", *task, "--data", data, "--pretrained", CHECKPOINT,
                         "--run-dir", str(run_dir), "--seq-length", "32", *extra])
        err = capsys.readouterr().err
        assert code == cli.EXIT_BAD_INPUT, err
        assert "nothing was pushed" in err
        assert not os.path.exists(run_dir), "no pipeline work may start on bad input"
        return err

    return run


def _space(tmp_path, text, name="space.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_bad_space_names_every_problem_with_its_key(finetune, tmp_path):
    err = finetune("--tune", _space(tmp_path, """\
algorithm: grid
max_trials: 2
trial_steps: 10
objective: entity_f1
hyperparameters:
  batch_size: {values: [0, 16, 32]}
  learning_rate: {min: 0, max: 1e-3, sampling: log}
  warmup_ratio: {min: 0.3, max: 0.1, step: 0.1}
  label_smoothing: {values: [0.1]}
"""))
    for expected in ("space.yaml: ", "objective: 'entity_f1' is not computed", "accuracy, loss",
                     "hyperparameters.batch_size: 0 is not a valid batch_size",
                     "hyperparameters.learning_rate: a log range must stay above 0",
                     "hyperparameters.warmup_ratio: min 0.3 must be below max 0.1",
                     "hyperparameters.label_smoothing: not a setting of this job"):
        assert expected in err, (expected, err)


def test_the_objective_is_checked_against_the_task(finetune, tmp_path):
    space = _space(tmp_path, "max_trials: 2\ntrial_steps: 8\nobjective: accuracy\n"
                             "hyperparameters:\n  dropout: {values: [0.0, 0.1]}\n")
    err = finetune("--tune", space, task=("--task", "token-classification"))
    assert "objective: 'accuracy' is not computed by this task" in err
    assert "entity_f1, loss, token_accuracy" in err


def test_a_grid_larger_than_max_trials(finetune, tmp_path):
    err = finetune("--tune", _space(tmp_path, json.dumps({
        "algorithm": "grid", "max_trials": 3, "trial_steps": 8,
        "hyperparameters": {"batch_size": {"values": [8, 16]},
                            "dropout": {"values": [0.0, 0.1]}}}), "space.json"))
    assert "max_trials: the grid has 4 points but max_trials is 3" in err


def test_a_flag_given_and_searched_is_refused(finetune, tmp_path):
    space = _space(tmp_path, "max_trials: 2\ntrial_steps: 8\n"
                             "hyperparameters:\n  learning_rate: {values: [1.0e-4, 1.0e-3]}\n")
    err = finetune("--tune", space, "--learning-rate", "5e-5")
    assert "--learning-rate: given on the command line and searched by --tune" in err


def test_flags_that_need_each_other(finetune, tmp_path):
    space = _space(tmp_path, "max_trials: 2\ntrial_steps: 8\n"
                             "hyperparameters:\n  dropout: {values: [0.0, 0.1]}\n")
    assert "--tuner-workers 2 runs a search's trials in parallel: it needs --tune" in \
        finetune("--tuner-workers", "2")
    assert "give one of them" in finetune("--tune", space, "--hyperparameters-from", space)
    assert "cannot be read" in finetune("--tune", str(tmp_path / "absent.yaml"))


def test_hyperparameters_from_a_file_is_checked(finetune, tmp_path):
    best = tmp_path / "best_hyperparameters.txt"
    best.write_text(json.dumps({"space": [], "values": {"batch_size": 0, "colour": "red"}}))
    err = finetune("--hyperparameters-from", str(best))
    assert "colour: not a setting of this job" in err and "0 is not a valid batch_size" in err
    empty_run = tmp_path / "empty_run"
    empty_run.mkdir()
    assert "not a run directory, a directory with best_hyperparameters.txt or a file" in \
        finetune("--hyperparameters-from", str(empty_run))
