"""lmpipe's Tuner outputs after a real KerasTuner search (models/core/tuning.py: make_tuner with
Hyperband, whose results TFX's own executor cannot write: tfx#7778), on a small Keras model
trained through the same trial callbacks the families' trainings get."""

import json
import os

import numpy as np
import pytest

from models.core import tuning
from models.text_classification.settings import ClassifierSettings

SETTINGS = ClassifierSettings(seq_length=8, batch_size=16)


def _train_trial(settings, log_dir, callbacks):
    """A tiny classifier fitted as models/core/training.py fits: epochs of checkpoint_every
    steps, evaluated after each; learns only with a useful learning rate."""
    import keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(settings.learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    epochs = settings.train_steps // settings.checkpoint_every
    data = (x[:384], y[:384])
    model.fit(*data, batch_size=settings.batch_size, epochs=epochs,
              steps_per_epoch=settings.checkpoint_every, validation_data=(x[384:], y[384:]),
              callbacks=callbacks, verbose=0)
    os.makedirs(log_dir, exist_ok=True)
    return model


@pytest.fixture(scope="module")
def hyperband(tmp_path_factory):
    root = tmp_path_factory.mktemp("hyperband")
    raw = {"algorithm": "hyperband", "max_trials": 6, "trial_steps": 18,
           "hyperparameters": {"learning_rate": {"min": 1e-4, "max": 1.0, "sampling": "log"}}}
    space = tuning.parse_space(raw, SETTINGS, ClassifierSettings.TUNING_OBJECTIVES,
                               "accuracy", "space.yaml")
    log_root = str(root / "tensorboard")
    tuner = tuning.make_tuner(space, SETTINGS, _train_trial, str(root / "work"), log_root, 7)
    tuner.search()
    return {"root": root, "space": space, "tuner": tuner, "log_root": log_root}


def _outputs(root):
    from tfx.types import standard_artifacts

    best, results = standard_artifacts.HyperParameters(), standard_artifacts.TunerResults()
    best.uri, results.uri = str(root / "best"), str(root / "results")
    os.makedirs(best.uri, exist_ok=True)
    return {"best_hyperparameters": [best], "tuner_results": [results]}


def test_tfx_own_results_writer_fails_under_hyperband(hyperband):
    from tfx.components.tuner import executor as tfx_tuner

    with pytest.raises(TypeError):  # tfx#7778: get_best_trials(max_trials=None)
        hyperband["tuner"].oracle.max_trials = None
        try:
            tfx_tuner.write_best_hyperparameters(hyperband["tuner"], _outputs(hyperband["root"]))
        finally:
            hyperband["tuner"].oracle.max_trials = hyperband["space"].max_trials


def test_hyperband_results_are_written_with_every_trial_and_the_best_marked(hyperband):
    from components.tuner.executor import write_search_outputs

    root, space = hyperband["root"], hyperband["space"]
    outputs = _outputs(root)
    write_search_outputs(hyperband["tuner"], outputs, space, hyperband["log_root"], 12.5, 1)
    with open(root / "best" / "best_hyperparameters.txt") as f:
        best = json.load(f)
    with open(root / "results" / "tuner_results.json") as f:
        rows = json.load(f)
    with open(root / "results" / "search.json") as f:
        search = json.load(f)
    assert len(rows) == 6 and search["trials"] == 6  # max_trials caps Hyperband's brackets
    # 6 trials: 3 rounds at most (9 would need 13 trials to halve once), of 6 steps each;
    # the first bracket's best 1-round trial is promoted to 3 rounds.
    budgets = [r["budget_steps"] for r in rows]
    assert budgets == [6, 6, 6, 18, 18, 18]
    for row in rows:
        assert row["steps"] == row["budget_steps"] and [h["step"] for h in row["history"]] == \
            list(range(6, row["budget_steps"] + 1, 6))
    winner, = [r for r in rows if r["best"]]
    assert best["values"]["learning_rate"] == winner["learning_rate"]
    assert search["best_hyperparameters"] == {"learning_rate": winner["learning_rate"]}
    assert winner["score"] == max(r["score"] for r in rows
                                  if r["budget_steps"] == winner["budget_steps"])
    assert os.path.getsize(root / "results" / "trials.png") > 1000
