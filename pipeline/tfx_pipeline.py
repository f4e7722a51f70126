"""The `tfx.dsl.Pipeline` both pipeline definitions are wrapped in, and where their files are:
artifacts under `<run_dir>/pipeline/`, SQLite ML Metadata at `<run_dir>/metadata.sqlite` when
run here (Kubeflow/Vertex bring their own), caching on, the run's Beam options."""

import os
from typing import List

from tfx import v1 as tfx

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE_REPO_ROOT = "/lmpipe"  # WORKDIR of the Dockerfile


def make_pipeline(cfg, components: List, local: bool = True) -> tfx.dsl.Pipeline:
    metadata = None
    if local:
        metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.abspath(cfg.metadata_path))
    return tfx.dsl.Pipeline(
        pipeline_name=cfg.pipeline_name,
        pipeline_root=absolute(cfg.pipeline_root),
        components=components,
        enable_cache=True,
        metadata_connection_config=metadata,
        beam_pipeline_args=cfg.pipeline_beam_args)


def absolute(path: str) -> str:
    """An absolute local path; URIs such as gs://bucket/dir are kept as they are."""
    return path if "://" in path else os.path.abspath(path)


def read_text(path: str) -> str:
    """A UTF-8 file, here or on a cluster file system (gs://...; tf.io.gfile)."""
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "r") as f:
        return f.read()


def write_text(path: str, text: str) -> None:
    """Writes a UTF-8 file (its directory made), here or on a cluster file system (gs://...:
    `lmpipe compile` writes a run's schema there; tf.io.gfile)."""
    import tensorflow as tf

    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)


def repo_file(*parts: str, image: bool = False) -> str:
    """A file shipped in this repository (e.g. schemas/corpus.pbtxt): here, or where the
    pipeline image (Dockerfile) puts the repository."""
    return os.path.join(IMAGE_REPO_ROOT if image else REPO_ROOT, *parts)


def trainer_config(cfg, settings=None, **extras) -> dict:
    """The Trainer's `custom_config`: the training settings (`settings`, default the run's
    own) and where a killed run's backup waits (both change only when training does), plus
    task extras such as `labels`."""
    settings = settings or cfg.train_settings()
    return {"settings": settings.to_dict(), "backup_dir": absolute(cfg.backup_dir_for(settings)),
            **extras}
