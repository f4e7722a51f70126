"""Finds what fine-tuning starts from (`--pretrained`): a pretraining run's latest blessed model,
found through its ML Metadata, a pretrained model directory (models/encoder.py: layout), or a
checkpoint from elsewhere (a Hugging Face BERT directory or a keras-hub preset), which the
fine-tuning pipeline imports first (models/checkpoint.py)."""

import dataclasses
import os

from models import encoder


class PretrainedError(ValueError):
    """`--pretrained` does not point at a usable pretraining; the message says why."""


@dataclasses.dataclass(frozen=True)
class Pretrained:
    model_uri: str  # the Model artifact directory (Trainer's base_model), or the checkpoint
    checkpoint_format: str = "lmpipe"  # or "huggingface", "keras_hub": imported in the pipeline

    @property
    def needs_import(self) -> bool:
        return self.checkpoint_format != "lmpipe"

    @property
    def encoder_dir(self) -> str:
        return encoder.encoder_dir(self.model_uri)

    @property
    def vocab_file(self) -> str:
        return encoder.vocab_file(self.encoder_dir)


def _latest_blessed_model_uri(run_dir: str) -> str:
    import ml_metadata as mlmd
    from tfx import v1 as tfx

    store = mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.join(run_dir, "metadata.sqlite")))
    blessed = [b for b in store.get_artifacts_by_type("ModelBlessing")
               if b.custom_properties["blessed"].int_value == 1]
    if not blessed:
        raise PretrainedError(f"--pretrained {run_dir}: this pretraining run has no blessed model; "
                              "rerun lmpipe pretrain until the Evaluator blesses one.")
    latest = max(blessed, key=lambda b: b.id)
    model_id = latest.custom_properties["current_model_id"].int_value
    model, = store.get_artifacts_by_id([model_id])
    return model.uri


def resolve(path: str) -> Pretrained:
    """A pretraining run dir (its latest blessed model), a Model artifact dir or its encoder/,
    or a Hugging Face / keras-hub checkpoint directory."""
    from models import checkpoint

    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise PretrainedError(f"--pretrained {path} does not exist: give a pretraining run "
                              "directory (lmpipe pretrain --run-dir), a pretrained model directory "
                              "or a BERT checkpoint directory.")
    if os.path.isfile(os.path.join(path, "config.json")) and os.path.basename(path) != encoder.ENCODER_DIR:
        try:
            ckpt = checkpoint.inspect(path)
        except checkpoint.CheckpointError as e:
            raise PretrainedError(f"--pretrained {path}: {e}") from None
        return Pretrained(ckpt.path, ckpt.format)
    if os.path.isfile(os.path.join(path, "metadata.sqlite")):
        pretrained = Pretrained(_latest_blessed_model_uri(path))
    elif (os.path.isfile(os.path.join(path, "config.json"))
          and os.path.basename(path) == encoder.ENCODER_DIR):
        pretrained = Pretrained(os.path.dirname(path))
    else:
        pretrained = Pretrained(path)
    for needed in (os.path.join(pretrained.encoder_dir, "config.json"), pretrained.vocab_file):
        if not os.path.isfile(needed):
            raise PretrainedError(
                f"--pretrained {path}: {needed} is missing. Expected a pretraining run directory "
                "or a model that lmpipe pretrain wrote (with encoder/config.json and encoder/vocab.txt).")
    return pretrained


def check_vocabulary_matches(pretrained: Pretrained) -> int:
    """The encoder's embedding table and the vocabulary must have the same size (a checkpoint
    from elsewhere was checked when it was resolved)."""
    from models.tokenization import read_vocab

    if pretrained.needs_import:
        return checkpoint_vocab_size(pretrained)

    try:
        return encoder.check_vocabulary(pretrained.encoder_dir,
                                        len(read_vocab(pretrained.vocab_file)),
                                        pretrained.vocab_file)
    except encoder.EncoderError as e:
        raise PretrainedError(str(e)) from None


def checkpoint_vocab_size(pretrained: Pretrained) -> int:
    from models import checkpoint

    return checkpoint.inspect(pretrained.model_uri).vocab_size
