"""What fine-tuning starts from (pipeline/resolve_pretrained.py)."""

import json
import os

import pytest

from pipeline import resolve_pretrained as pretrained_lib


def _fake_pretrained(tmp_path, vocab_size, embeddings):
    encoder = tmp_path / "model" / "encoder"
    encoder.mkdir(parents=True)
    (encoder / "vocab.txt").write_text("".join(f"t{i}\n" for i in range(vocab_size)))
    (encoder / "config.json").write_text(json.dumps({"config": {"vocabulary_size": embeddings}}))
    return str(tmp_path / "model")


def test_resolve_model_dir_and_encoder_dir(tmp_path):
    model = _fake_pretrained(tmp_path, 10, 10)
    assert pretrained_lib.resolve(model).model_uri == model
    assert pretrained_lib.resolve(os.path.join(model, "encoder")).model_uri == model
    assert pretrained_lib.check_vocabulary_matches(pretrained_lib.resolve(model)) == 10


def test_resolve_errors_name_the_path(tmp_path):
    with pytest.raises(pretrained_lib.PretrainedError, match="does not exist"):
        pretrained_lib.resolve(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(pretrained_lib.PretrainedError, match="encoder/config.json"):
        pretrained_lib.resolve(str(tmp_path / "empty"))


def test_vocabulary_mismatch_is_refused(tmp_path):
    model = _fake_pretrained(tmp_path, 10, 12)
    with pytest.raises(pretrained_lib.PretrainedError, match="has 10 tokens but .* 12 token embeddings"):
        pretrained_lib.check_vocabulary_matches(pretrained_lib.resolve(model))


@pytest.mark.parametrize("size", ["tiny", "mini"])
def test_the_student_size_check_counts_an_encoders_parameters_exactly(tmp_path, size):
    from models.core.backbone import build_backbone
    from models.core.encoder import save_encoder
    from pipeline.resolve_pretrained import Pretrained, encoder_parameters

    backbone = build_backbone(vocab_size=300, seq_length=32, size=size)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(f"t{i}\n" for i in range(300)))
    save_encoder(backbone, str(tmp_path / "model"), str(vocab))
    assert encoder_parameters(Pretrained(str(tmp_path / "model"))) == backbone.count_params()
