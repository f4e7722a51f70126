"""Training settings (models/core/settings.py): checked where they are defined, serialised for the
Trainer, and the backup key that decides what a killed run may resume into."""

import dataclasses

import pytest

from models.core.settings import ConfigError, TrainSettings
from models.text_classification.settings import ClassifierSettings
from models.masked_lm.settings import MaskedLMSettings


def test_each_task_serialises_its_own_settings():
    mlm = MaskedLMSettings(seq_length=64, max_predictions=8)
    assert MaskedLMSettings.from_dict(mlm.to_dict()) == mlm
    assert {"max_predictions", "top_k"} <= set(mlm.to_dict())
    classifier = ClassifierSettings(pooling="cls")
    assert classifier.model_name == "classifier" and classifier.learning_rate == 1e-4
    assert "max_predictions" not in classifier.to_dict() and "pooling" in classifier.to_dict()
    assert set(TrainSettings().to_dict()) < set(mlm.to_dict())


@pytest.mark.parametrize("settings, changes, message", [
    (MaskedLMSettings, dict(max_predictions=7, seq_length=8), "max_predictions=7"),
    (ClassifierSettings, dict(pooling="max"), "pooling='max'"),
    (ClassifierSettings, dict(class_weights="inverse"), "class_weights='inverse'"),
    (ClassifierSettings, dict(freeze_layers=-1), "freeze_layers"),
    (TrainSettings, dict(profile_steps="5,2"), "profile_steps='5,2'"),
    (TrainSettings, dict(base_batch_size=0), "base_batch_size=0"),
])
def test_invalid_settings_name_the_setting(settings, changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        settings(**changes)


def test_resuming_depends_on_what_training_computes_not_how_it_is_run():
    base = MaskedLMSettings()
    assert base.backup_key().startswith("mlm-")
    for how in (dict(resume=False), dict(profile_steps="2,3"), dict(jit_compile="on")):
        assert dataclasses.replace(base, **how).backup_key() == base.backup_key()
    assert dataclasses.replace(base, learning_rate=5e-4).backup_key() != base.backup_key()
