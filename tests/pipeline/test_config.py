import json

import pytest

from pipeline.config import ConfigError, FinetuneConfig, PretrainConfig
from pipeline.tfx_pipeline import trainer_config


def make(**overrides):
    return PretrainConfig(corpus_dir="data/corpus", **overrides)


def test_defaults_are_valid_and_derive_paths():
    cfg = make(run_dir="runs/x")
    assert cfg.pipeline_root == "runs/x/pipeline"
    assert cfg.metadata_path == "runs/x/metadata.sqlite"
    assert cfg.serving_model_dir == "runs/x/serving/mlm"
    from models.core.backbone import build_backbone

    backbone = build_backbone(100, 16, cfg.model_size)
    assert (backbone.num_layers, backbone.hidden_dim, backbone.num_heads,
            backbone.intermediate_dim) == (2, 128, 2, 512)


def test_json_round_trip():
    cfg = make(vocab_size=1234, beam_args=["--a"])
    assert PretrainConfig(**json.loads(cfg.to_json())) == cfg  # the summary's "config" key


@pytest.mark.parametrize("overrides, names", [
    (dict(vocab_size=5), ["vocab_size=5", "[PAD] [UNK] [CLS] [SEP] [MASK]", "--vocab-size"]),
    (dict(seq_length=2), ["seq_length=2", "[CLS]", "--seq-length"]),
    (dict(model_size="huge"), ["model_size='huge'", "tiny"]),
    (dict(strategy="gpu_magic"), ["strategy='gpu_magic'", "mirrored"]),
    (dict(mask_rate=1.5), ["mask_rate=1.5"]),
    (dict(max_predictions=200, seq_length=128), ["max_predictions=200", "126"]),
    (dict(dupe_factor=0), ["dupe_factor=0"]),
    (dict(eval_buckets=10), ["eval_buckets=10"]),
    (dict(mixed_precision="float8"), ["mixed_precision='float8'"]),
    (dict(model_name="my model/1"), ["model_name='my model/1'"]),
    (dict(jit_compile="yes"), ["jit_compile='yes'", "auto, on, off"]),
])
def test_invalid_settings_name_the_setting(overrides, names):
    with pytest.raises(ConfigError) as error:
        make(**overrides)
    for name in names:
        assert name in str(error.value)


def test_smallest_valid_sequence_and_vocab():
    cfg = make(seq_length=3, max_predictions=1, vocab_size=6)
    assert cfg.seq_length == 3


def test_xla_is_keras_choice_unless_forced():
    assert make().keras_jit_compile == "auto"
    assert make(jit_compile="on").keras_jit_compile is True
    assert make(jit_compile="off").keras_jit_compile is False
    assert make(jit_compile="on").backup_dir == make().backup_dir  # resuming is unaffected


def test_the_trainer_gets_training_settings_only():
    """TFX's cache key holds the Trainer's custom_config: nothing about blessing, pushing, Beam
    or the data steps may be in it, or changing those would retrain."""
    config = trainer_config(make(min_masked_accuracy=0.3, max_versions=2, worker_timeout=9,
                                 beam_args=["--direct_num_workers=4"], serving_dir="/srv"))
    assert set(config) == {"settings", "backup_dir"}
    assert config == trainer_config(make())
    assert {"seq_length", "batch_size", "learning_rate", "max_predictions", "seed"} <= set(config["settings"])
    for name in ("min_masked_accuracy", "max_regression", "max_versions", "serving_dir",
                 "beam_args", "beam_runner", "worker_timeout", "vocab_size", "dupe_factor"):
        assert name not in config["settings"]
    finetune = FinetuneConfig(data="d.tsv", pretrained="p", min_accuracy=0.9, max_versions=3)
    assert trainer_config(finetune, labels=["a", "b"]) == trainer_config(
        FinetuneConfig(data="d.tsv", pretrained="p"), labels=["a", "b"])
    assert trainer_config(make(seq_length=64))["settings"]["seq_length"] == 64


def test_a_test_split_of_zero_buckets_is_accepted():
    assert FinetuneConfig(data="d.tsv", pretrained="p", split_buckets=(8, 2, 0)).split_buckets == (8, 2, 0)
    with pytest.raises(ConfigError, match="split_buckets=\\(8, 0, 1\\)"):
        FinetuneConfig(data="d.tsv", pretrained="p", split_buckets=(8, 0, 1))


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_bad_distillation_settings_are_refused(alpha):
    with pytest.raises(ConfigError, match="distill_alpha"):
        FinetuneConfig(data="d.tsv", pretrained="p", distill_from="t", distill_alpha=alpha).validate()
    with pytest.raises(ConfigError, match="needs --distill-from"):
        FinetuneConfig(data="d.tsv", pretrained="p", unlabelled_text="u.txt").validate()


@pytest.mark.parametrize("overrides, message", [
    ({"long_text": "middle"}, "long_text='middle' is unknown"),
    ({"long_text": "windows", "window_pooling": "median"}, "window_pooling='median' is unknown"),
    ({"long_text": "windows", "max_windows": 0}, "max_windows=0 must be a positive"),
    ({"long_text": "windows", "window_stride": 62}, "window_stride=62"),
    ({"long_text": "windows", "text_pair_column": "hypothesis"}, "a pair is cut"),
])
def test_bad_long_text_settings_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        FinetuneConfig(data="d", pretrained="p", seq_length=64, **overrides)


def test_long_text_settings_reach_tokenize_only_when_not_the_default():
    from pipeline.jobs.text_classification import long_text_config

    assert long_text_config(FinetuneConfig(data="d", pretrained="p")) == {}
    assert long_text_config(FinetuneConfig(data="d", pretrained="p", seq_length=66,
                                           long_text="windows", max_windows=4)) == {
        "long_text": "windows", "window_stride": 16, "max_windows": 4}
    settings = FinetuneConfig(data="d", pretrained="p", long_text="head-tail").train_settings()
    assert settings.long_text == "head-tail"


def test_pad_to_multiple_of_sets_the_bucket_multiple():
    assert FinetuneConfig(data="d", pretrained="p").train_settings().bucket_multiple == 8
    assert FinetuneConfig(data="d", pretrained="p",
                          pad_to_multiple_of=16).train_settings().bucket_multiple == 16
    assert FinetuneConfig(data="d", pretrained="p",
                          batching="fixed").train_settings().bucket_multiple == 0
    with pytest.raises(ConfigError, match="pad_to_multiple_of=0"):
        FinetuneConfig(data="d", pretrained="p", pad_to_multiple_of=0)
