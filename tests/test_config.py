import pytest

from pipeline.config import ConfigError, PretrainConfig


def make(**overrides):
    return PretrainConfig(corpus_dir="data/corpus", **overrides)


def test_defaults_are_valid_and_derive_paths():
    cfg = make(run_dir="runs/x")
    assert cfg.pipeline_root == "runs/x/pipeline"
    assert cfg.metadata_path == "runs/x/metadata.sqlite"
    assert cfg.serving_model_dir == "runs/x/serving/mlm"
    assert cfg.model_dims == {"num_layers": 2, "hidden_dim": 128, "num_heads": 2,
                              "intermediate_dim": 512}


def test_json_round_trip():
    cfg = make(vocab_size=1234, beam_args=["--a"])
    assert PretrainConfig.from_json(cfg.to_json()) == cfg


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


def test_tfx_builds_no_sdist_of_itself_for_the_direct_runner(monkeypatch):
    from tfx.utils import dependency_utils

    from pipeline import runners

    built = []
    monkeypatch.setattr(dependency_utils, "build_ephemeral_package",
                        lambda: built.append(1) or "/tmp/tfx.tar.gz")
    monkeypatch.setattr(dependency_utils, "make_beam_dependency_flags",
                        dependency_utils.make_beam_dependency_flags)
    runners.skip_tfx_sdist_for_local_beam()
    local = ["--runner=DirectRunner", "--direct_num_workers=2"]
    assert dependency_utils.make_beam_dependency_flags(local) == local and not built
    remote = ["--runner=DataflowRunner", "--project=p"]
    assert dependency_utils.make_beam_dependency_flags(remote)[-1] == "--extra_package=/tmp/tfx.tar.gz"
    assert built == [1]
