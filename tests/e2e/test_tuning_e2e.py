"""`lmpipe finetune --tune SPACE` end to end on the committed small sentence-transformers
checkpoint: a grid of three learning rates (one set to diverge), each trial a few steps; the
trials table, the best settings the Trainer trained with, the final model pushed; a rerun that
does not search again; `--hyperparameters-from` that skips the search; and `--tuner-workers 2`,
two processes sharing one oracle."""

import json
import os
import sqlite3

import pytest

from tests.conftest import REPO, cued_reviews, run_lmpipe

CHECKPOINT = os.path.join(REPO, "tests", "data", "hf_checkpoints", "st_minilm")
FLAGS = ["--seq-length", "32", "--batch-size", "16", "--train-steps", "40",
         "--checkpoint-every", "20", "--eval-steps", "4", "--min-accuracy", "0.6"]
SPACE = """\
algorithm: grid
max_trials: 3
trial_steps: 12
evaluations: 2
hyperparameters:
  learning_rate: {values: [1.0e-3, 3.0e-3, 1.0e+6]}   # the last one diverges
"""


def _finetune(data, run_dir, *extra):
    result = run_lmpipe("finetune", "--data", data, "--pretrained", CHECKPOINT,
                        "--run-dir", run_dir, *FLAGS, *extra)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)["finetune"], result.stdout


@pytest.fixture(scope="module")
def tuning_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tuning")
    data = cued_reviews(str(root / "reviews.tsv"))
    space = root / "space.yaml"
    space.write_text(SPACE)
    run_dir = str(root / "run")
    summary, stdout = _finetune(data, run_dir, "--tune", str(space))
    return {"root": root, "data": data, "space": str(space), "run_dir": run_dir,
            "summary": summary, "stdout": stdout}


def _executions(run_dir, component):
    """(state, id) of each execution of `component` in the run's ML Metadata (3: COMPLETE,
    5: CACHED)."""
    with sqlite3.connect(os.path.join(run_dir, "metadata.sqlite")) as db:
        return db.execute("SELECT e.last_known_state, e.id FROM Execution e JOIN Type t ON "
                          "e.type_id = t.id WHERE t.name LIKE ? ORDER BY e.id",
                          (f"%{component}",)).fetchall()


def test_every_trial_is_in_the_table_and_the_best_settings_trained_the_pushed_model(tuning_run):
    summary = tuning_run["summary"]
    tuning, training = summary["tuning"], summary["training"]
    trials = tuning["trials"]
    assert [t["learning_rate"] for t in trials] == [1e-3, 3e-3, 1e6]
    assert [t["trial_id"] for t in trials] == ["0", "1", "2"]
    best = [t for t in trials if t["best"]]
    assert len(best) == 1 and best[0]["learning_rate"] != 1e6
    assert best[0]["score"] == max(t["score"] for t in trials[:2])
    # The Trainer trained with exactly the best trial's settings, for the full budget.
    assert training["hyperparameters"] == {"learning_rate": best[0]["learning_rate"]}
    assert tuning["search"]["best_hyperparameters"] == training["hyperparameters"]
    assert training["steps"] == 40
    assert summary["blessed"] and summary["pushed"]
    for trial in trials:
        assert trial["seconds"] > 0 and trial["budget_steps"] == 12
        assert [h["step"] for h in trial["history"]][:1] == [6] or trial["stopped_early"]
    stdout = tuning_run["stdout"]
    assert "search            grid, 3 trials" in stdout
    assert f"* {best[0]['trial_id']}" in stdout and "learning_rate" in stdout
    assert "best settings     learning_rate" in stdout


def test_a_diverging_trial_is_stopped_before_its_budget(tuning_run):
    huge, = [t for t in tuning_run["summary"]["tuning"]["trials"] if t["learning_rate"] == 1e6]
    assert huge["stopped_early"] and huge["ended"].startswith("diverged")
    assert huge["steps"] < huge["budget_steps"]
    assert huge["status"] == "FAILED" and not huge["best"]  # KerasTuner: a NaN score


def test_the_plot_and_the_hparams_dashboard_data(tuning_run):
    import glob

    import tensorflow as tf

    tuning = tuning_run["summary"]["tuning"]
    assert tuning["plot"] == os.path.join(tuning_run["run_dir"], "trials.png")  # beside summary
    for plot in (tuning["plot"], os.path.join(tuning["tuner_results"], "trials.png")):
        with open(plot, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    tags = {}
    for event_file in glob.glob(os.path.join(tuning["tensorboard"], "**", "events.out.*"),
                                recursive=True):
        run = os.path.relpath(os.path.dirname(event_file), tuning["tensorboard"])
        for event in tf.compat.v1.train.summary_iterator(event_file):
            tags.setdefault(run, set()).update(v.tag for v in event.summary.value)
    assert "_hparams_/experiment" in tags["."]  # the experiment over the trials
    for trial_id in ("0", "1", "2"):
        assert "_hparams_/session_start_info" in tags[trial_id]  # one session per trial
        assert "epoch_accuracy" in tags[os.path.join(trial_id, "validation")]


def test_a_rerun_with_the_same_data_and_space_does_not_search_again(tuning_run):
    before = _executions(tuning_run["run_dir"], "Tuner")
    summary, stdout = _finetune(tuning_run["data"], tuning_run["run_dir"],
                                "--tune", tuning_run["space"], "--train-steps", "60")
    after = _executions(tuning_run["run_dir"], "Tuner")
    assert len(after) == len(before) + 1 and after[-1][0] == 5  # CACHED
    assert summary["tuning"]["cached"] and "(cached:" in stdout
    assert summary["tuning"]["trials"] == tuning_run["summary"]["tuning"]["trials"]
    assert summary["training"]["steps"] == 60  # a new final budget retrains, no new search
    assert summary["training"]["hyperparameters"] == \
        tuning_run["summary"]["training"]["hyperparameters"]


def test_hyperparameters_from_an_earlier_run_skips_the_search(tuning_run):
    run_dir = str(tuning_run["root"] / "reuse")
    summary, stdout = _finetune(tuning_run["data"], run_dir,
                                "--hyperparameters-from", tuning_run["run_dir"])
    assert _executions(run_dir, "Tuner") == []
    best = tuning_run["summary"]["training"]["hyperparameters"]
    assert summary["training"]["hyperparameters"] == best
    assert summary["tuning"]["hyperparameters"] == best
    assert "(no search)" in stdout and summary["pushed"]


def test_two_worker_processes_share_one_oracle_and_no_trial_runs_twice(tuning_run):
    run_dir = str(tuning_run["root"] / "parallel")
    summary, _ = _finetune(tuning_run["data"], run_dir, "--tune", tuning_run["space"],
                           "--tuner-workers", "2")
    trials = summary["tuning"]["trials"]
    assert summary["tuning"]["search"]["workers"] == 2
    assert sorted(t["trial_id"] for t in trials) == ["0", "1", "2"]
    assert sorted(t["learning_rate"] for t in trials) == [1e-3, 3e-3, 1e6]
    assert {t["tuner_id"] for t in trials} == {"tuner0", "tuner1"}
    assert len({t["pid"] for t in trials}) == 2 and os.getpid() not in {t["pid"] for t in trials}
    assert summary["pushed"]


def test_lineage_reaches_from_the_pushed_model_to_the_search(tuning_run):
    """ML Metadata: the pushed model's Trainer read the Tuner's best_hyperparameters, and the
    same Tuner execution wrote the trials (tuner_results)."""
    import ml_metadata as mlmd
    from tfx import v1 as tfx

    store = mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.join(tuning_run["run_dir"], "metadata.sqlite")))
    Event = mlmd.proto.Event

    def producer(artifact_id):
        """The execution that wrote it (a cached rerun's execution outputs it too: the first)."""
        return min(e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])
                   if e.type == Event.OUTPUT)

    def inputs(execution_id, type_name):
        ids = [e.artifact_id for e in store.get_events_by_execution_ids([execution_id])
               if e.type == Event.INPUT]
        return [a for a in store.get_artifacts_by_id(ids)
                if store.get_artifact_types_by_id([a.type_id])[0].name == type_name]

    pushed, = [a for a in store.get_artifacts_by_type("PushedModel")][:1]
    pusher = producer(pushed.id)
    model, = inputs(pusher, "Model")
    trainer = producer(model.id)
    best, = inputs(trainer, "HyperParameters")
    tuner = producer(best.id)
    outputs = [e.artifact_id for e in store.get_events_by_execution_ids([tuner])
               if e.type == Event.OUTPUT]
    results = [a for a in store.get_artifacts_by_id(outputs)
               if store.get_artifact_types_by_id([a.type_id])[0].name == "TunerResults"]
    assert [a.uri for a in results] == [tuning_run["summary"]["tuning"]["tuner_results"]]
    assert store.get_execution_types_by_id(
        [store.get_executions_by_id([tuner])[0].type_id])[0].name.endswith("Tuner")
