"""Finds what fine-tuning starts from (`--pretrained`): a pretraining run's latest blessed model,
found through its ML Metadata, a pretrained model directory (models/core/encoder.py: layout), or a
checkpoint from elsewhere (a Hugging Face BERT directory or a keras-hub preset), which the
fine-tuning pipeline imports first (models/checkpoints/)."""

import dataclasses
import os

from models.core import encoder


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


def _refuse_gpt2(path: str) -> None:
    from models.checkpoints import gpt2 as gpt2_checkpoint

    if gpt2_checkpoint.is_gpt2(path):
        raise _gpt2_error(path)


def _gpt2_error(path: str) -> PretrainedError:
    return PretrainedError(
        f"--pretrained {path} is a GPT-2 (causal LM) checkpoint: fine-tuning takes a "
        "BERT-style encoder (a masked-LM pretraining run, or a BERT, DistilBERT or "
        "sentence-transformers checkpoint). Continue pretraining it with `lmpipe pretrain "
        f"--objective causal --init-from {path}`, or serve it with `lmpipe import "
        f"--checkpoint {path}`.")


def resolve(path: str) -> Pretrained:
    """A pretraining run dir (its latest blessed model), a Model artifact dir or its encoder/,
    or a Hugging Face / keras-hub checkpoint directory."""
    from models import checkpoints

    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise PretrainedError(f"--pretrained {path} does not exist: give a pretraining run "
                              "directory (lmpipe pretrain --run-dir), a pretrained model directory "
                              "or a BERT checkpoint directory.")
    _refuse_gpt2(path)
    is_checkpoint = any(os.path.isfile(os.path.join(path, name))
                        for name in ("config.json", checkpoints.MODULES_JSON))
    if is_checkpoint and os.path.basename(path) != encoder.ENCODER_DIR:
        try:
            ckpt = checkpoints.inspect(path)
        except checkpoints.CheckpointError as e:
            raise PretrainedError(f"--pretrained {path}: {e}") from None
        return Pretrained(ckpt.path, ckpt.format)
    if os.path.isfile(os.path.join(path, "metadata.sqlite")):
        pretrained = Pretrained(_latest_blessed_model_uri(path))
    elif (os.path.isfile(os.path.join(path, "config.json"))
          and os.path.basename(path) == encoder.ENCODER_DIR):
        pretrained = Pretrained(os.path.dirname(path))
    else:
        pretrained = Pretrained(path)
    _refuse_gpt2(pretrained.model_uri)
    for needed in (os.path.join(pretrained.encoder_dir, "config.json"), pretrained.vocab_file):
        if not os.path.isfile(needed):
            raise PretrainedError(
                f"--pretrained {path}: {needed} is missing. Expected a pretraining run directory "
                "or a model that lmpipe pretrain wrote (with encoder/config.json and encoder/vocab.txt).")
    return pretrained


def check_vocabulary_matches(pretrained: Pretrained) -> int:
    """The encoder's embedding table and the vocabulary must have the same size (a checkpoint
    from elsewhere was checked when it was resolved)."""
    from models.tokenizers.wordpiece import read_vocab

    if pretrained.needs_import:
        return checkpoint_vocab_size(pretrained)

    try:
        return encoder.check_vocabulary(pretrained.encoder_dir,
                                        len(read_vocab(pretrained.vocab_file)),
                                        pretrained.vocab_file)
    except encoder.EncoderError as e:
        raise PretrainedError(str(e)) from None


def checkpoint_vocab_size(pretrained: Pretrained) -> int:
    from models import checkpoints

    return checkpoints.inspect(pretrained.model_uri).vocab_size


def resolve_teacher(path: str) -> str:
    """The teacher of `--distill-from`, as a Model artifact directory TeacherScores reads: a
    fine-tuning run directory (its latest blessed model), a pushed model (<serving dir>/<model>:
    its latest version), one of its version directories, or a Trainer's Model artifact."""
    from serving.versions import ServingDirError, resolve_version_dir

    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise PretrainedError(f"--distill-from {path} does not exist: give a pushed classifier "
                              "(<serving dir>/<model>), one of its versions, or a fine-tuning "
                              "run directory")
    if os.path.isfile(os.path.join(path, "metadata.sqlite")):
        return _latest_blessed_model_uri(path)
    if os.path.isfile(os.path.join(path, "Format-Serving", "saved_model.pb")):
        return path
    try:
        return resolve_version_dir(path)
    except ServingDirError as e:
        raise PretrainedError(f"--distill-from: {e}") from None


def teacher_saved_model(model_uri: str) -> str:
    from components.teacher_scores.executor import teacher_saved_model as find

    return find(model_uri)


def saved_model_parameters(saved_model_dir: str) -> int:
    """Numbers in a SavedModel's variables (an exported classifier has no optimizer state;
    ExportArchive lists each variable twice, under `variables/` and `_all_variables/`)."""
    import numpy as np
    import tensorflow as tf

    listed = tf.train.list_variables(os.path.join(saved_model_dir, "variables", "variables"))
    return int(sum(np.prod(shape) for name, shape in listed if name.startswith("variables/")))


def encoder_parameters(pretrained: Pretrained):
    """The encoder's parameters from its keras-hub config (None for a checkpoint from
    elsewhere, not yet imported)."""
    if pretrained.needs_import:
        return None
    import json

    with open(os.path.join(pretrained.encoder_dir, "config.json")) as f:
        c = json.load(f)["config"]
    h, layers, inner = c["hidden_dim"], c["num_layers"], c["intermediate_dim"]
    embeddings = (c["vocabulary_size"] + c["max_sequence_length"] + c.get("num_segments", 2)) * h
    per_layer = 4 * (h * h + h) + 2 * h * inner + inner + h + 4 * h  # attention, MLP, 2 norms
    return embeddings + 2 * h + layers * per_layer + h * h + h  # + embedding norm, pooler


def resolve_on_cluster(path: str, flag: str = "--pretrained") -> Pretrained:
    """`--pretrained` for a compiled pipeline (`lmpipe compile --job finetune`): a cluster path,
    read with tf.io.gfile. A model lmpipe pretrained (`<model>/encoder/config.json`; or its
    `encoder/`) is used as it is; a Hugging Face or keras-hub checkpoint (`config.json`) is
    imported by the pipeline's CheckpointImport, which checks it there (shapes, vocabulary,
    settings) before anything trains. A pretraining run directory is refused: its ML Metadata
    is the cluster's, not a file."""
    import tensorflow as tf

    from models import checkpoints
    from models.checkpoints import gpt2 as gpt2_checkpoint

    path = path.rstrip("/")
    exists = tf.io.gfile.exists
    if exists(f"{path}/metadata.sqlite"):
        raise PretrainedError(f"{flag} {path} is a pretraining run directory; a compiled pipeline "
                              "starts from a model directory: give its pushed model's "
                              "<model>/ (with encoder/) or a checkpoint directory.")
    if os.path.basename(path) == encoder.ENCODER_DIR and exists(f"{path}/config.json"):
        return Pretrained(os.path.dirname(path))
    if exists(f"{path}/{encoder.ENCODER_DIR}/config.json"):
        return Pretrained(path)
    try:
        gpt2 = gpt2_checkpoint.is_gpt2(path)
    except gpt2_checkpoint.CheckpointError as error:
        raise PretrainedError(f"{flag}: {error}") from None
    if gpt2:
        raise _gpt2_error(path)
    if exists(f"{path}/{checkpoints.MODULES_JSON}") or exists(f"{path}/config.json"):
        keras_hub = exists(f"{path}/metadata.json")
        return Pretrained(path, checkpoints.KERAS_HUB if keras_hub else checkpoints.HUGGINGFACE)
    raise PretrainedError(f"{flag} {path}: neither a model lmpipe pretrained (encoder/config.json)"
                          " nor a checkpoint (config.json) is there.")
