"""What every job's pipeline is built with: the `tfx.dsl.Pipeline` it is wrapped in (artifacts
under `<run_dir>/pipeline/`, SQLite ML Metadata at `<run_dir>/metadata.sqlite` when run here,
Kubeflow/Vertex bring their own; caching on; the run's Beam options), the one TFX Trainer
builder, and where the repository's files are."""

import hashlib
import os
from typing import Callable, List, Optional

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


def validation_steps(example_gen, schema_file: str, stats_options=None) -> list:
    """The three steps every job runs on its data before any work: StatisticsGen (with
    `stats_options`, a `tfdv.StatsOptions`), ImportSchemaGen (the job's curated schema) and
    ExampleValidator, whose anomalies stop the run at the Tokenize step; in pipeline order."""
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"],
                                                  stats_options=stats_options)
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_file)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    return [statistics_gen, schema_gen, example_validator]


def pretraining_vocabulary(cfg, example_gen, example_validator, learner, starting_point: Callable):
    """A pretraining job's vocabulary and the model it starts from: with `cfg.init_from`, the
    checkpoint's (`starting_point()`: its import steps, the last with `vocabulary` and `model`
    outputs); otherwise a vocabulary the `learner` component (WordPieceVocabGen,
    ByteLevelBPEVocabGen) learns from the validated corpus, and random weights. Returns
    (the steps in pipeline order, the start model channel or None)."""
    if cfg.init_from:
        steps = list(starting_point())
        return steps, steps[-1].outputs["model"]
    return [learner(examples=example_gen.outputs["examples"],
                    anomalies=example_validator.outputs["anomalies"],
                    vocab_size=cfg.vocab_size, lower_thresh=cfg.lower_thresh)], None


def pipeline_schema_file(cfg, path: str, prefix: str = "labelled") -> str:
    """A copy of the schema named by its content (`<prefix>-<hash>.pbtxt` under the pipeline
    root), for ImportSchemaGen: its cache key holds the path, not the content, so an edited
    schema file must not keep its old artifact."""
    import tensorflow as tf

    content = read_text(path)
    copy = os.path.join(absolute(cfg.pipeline_root), "schemas", f"{prefix}-"
                        f"{hashlib.sha256(content.encode('utf-8')).hexdigest()[:12]}.pbtxt")
    if not tf.io.gfile.exists(copy):
        write_text(copy, content)
    return copy


def trainer(cfg, run_fn: str, tokenize, base_model=None, examples=None, settings=None,
            train_steps: Optional[int] = None, **extras):
    """The TFX Trainer of every job; a task family supplies its `run_fn` (the dotted name of
    `models/<family>/trainer.py:run_fn`) and its settings.

    It trains on `examples` (default the Tokenize step's transformed examples) with the Tokenize
    step's transform graph, from `base_model` (a Model channel: the encoder or checkpoint to
    start from, or None), for `train_steps` (default `cfg.train_steps`) and `cfg.eval_steps`
    eval steps; its `custom_config` is `trainer_config(cfg, settings, **extras)` (the training
    settings only: TFX's cache key includes it)."""
    return tfx.components.Trainer(
        run_fn=run_fn,
        examples=examples if examples is not None else tokenize.outputs["transformed_examples"],
        transform_graph=tokenize.outputs["transform_graph"],
        base_model=base_model,
        train_args=tfx.proto.TrainArgs(
            num_steps=cfg.train_steps if train_steps is None else train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=cfg.eval_steps),
        custom_config=trainer_config(cfg, settings, **extras))
