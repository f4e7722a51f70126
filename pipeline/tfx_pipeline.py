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
            train_steps: Optional[int] = None, hyperparameters=None, **extras):
    """The TFX Trainer of every job; a task family supplies its `run_fn` (the dotted name of
    `models/<family>/trainer.py:run_fn`) and its settings.

    It trains on `examples` (default the Tokenize step's transformed examples) with the Tokenize
    step's transform graph, from `base_model` (a Model channel: the encoder or checkpoint to
    start from, or None), for `train_steps` (default `cfg.train_steps`) and `cfg.eval_steps`
    eval steps; its `custom_config` is `trainer_config(cfg, settings, **extras)` (the training
    settings only: TFX's cache key includes it). `hyperparameters` (a HyperParameters channel:
    a Tuner's best_hyperparameters or an imported file; tuning_steps) replaces the settings it
    names (models/core/training.py: trainer_job)."""
    return tfx.components.Trainer(
        run_fn=run_fn,
        examples=examples if examples is not None else tokenize.outputs["transformed_examples"],
        transform_graph=tokenize.outputs["transform_graph"],
        base_model=base_model,
        hyperparameters=hyperparameters,
        train_args=tfx.proto.TrainArgs(
            num_steps=cfg.train_steps if train_steps is None else train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=cfg.eval_steps),
        custom_config=trainer_config(cfg, settings, **extras))


def tuning_steps(cfg, tuner_fn: str, tokenize, base_model=None, examples=None, **extras):
    """The steps that give the final Trainer its hyper-parameters, and their channel:
    `--tune SPACE`: lmpipe's Tuner (components/tuner) running `tuner_fn` (a family's
    `models/<family>/trainer.py:tuner_fn`) on the Tokenize step's examples (or `examples`) from
    `base_model`, `--tuner-workers` trial processes; `--hyperparameters-from`: an Importer of
    the earlier search's best settings (hyperparameters_source). Returns ([], None) without
    either. The Tuner's custom_config holds the job's settings with the search's own steps
    and evaluations in place of the final training's, the space and `extras` (`labels`...):
    its cache key (a rerun with the same data and space does not search again) ignores the
    final training's budget."""
    if cfg.hyperparameters_from:
        importer = tfx.dsl.Importer(
            source_uri=hyperparameters_source(cfg),
            artifact_type=tfx.types.standard_artifacts.HyperParameters).with_id("hyperparameters")
        return [importer], importer.outputs["result"]
    space = cfg.search_space() if cfg.tune else None
    if space is None:
        return [], None
    from components.tuner import Tuner

    settings = space.trial_settings(cfg.train_settings(), {})
    search = {k: v for k, v in space.to_dict().items() if k != "source"}
    tuner = Tuner(
        examples=examples if examples is not None else tokenize.outputs["transformed_examples"],
        transform_graph=tokenize.outputs["transform_graph"],
        base_model=base_model,
        tuner_fn=tuner_fn,
        train_args=tfx.proto.TrainArgs(num_steps=space.trial_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=cfg.eval_steps),
        tune_args=tfx.proto.TuneArgs(num_parallel_trials=cfg.tuner_workers),
        custom_config={"settings": settings.to_dict(), "space": search, **extras})
    return [tuner], tuner.outputs["best_hyperparameters"]


BEST_HYPERPARAMETERS_FILE = "best_hyperparameters.txt"


def resolve_hyperparameters(cfg):
    """(the file, its checked values) that `--hyperparameters-from` names: an lmpipe run
    directory's latest search result (from its ML Metadata), a directory holding
    best_hyperparameters.txt, or a file (TFX's best_hyperparameters.txt, a KerasTuner
    HyperParameters config, or a YAML/JSON {setting: value} mapping). Raises ConfigError
    (models/core/tuning.py: load_values checks the settings)."""
    from models.core import tuning
    from models.core.settings import ConfigError

    path = cfg.hyperparameters_from
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "metadata.sqlite")):
        found = latest_hyperparameters(os.path.join(path, "metadata.sqlite"))
        if not found:
            raise ConfigError(f"--hyperparameters-from {path}: that run has no search result "
                              "(run it with --tune SPACE first)")
        path = found
    if os.path.isdir(path):
        path = os.path.join(path, BEST_HYPERPARAMETERS_FILE)
    if not os.path.isfile(path):
        raise ConfigError(f"--hyperparameters-from {cfg.hyperparameters_from}: not a run "
                          f"directory, a directory with {BEST_HYPERPARAMETERS_FILE} or a file")
    return path, tuning.load_values(path, cfg.train_settings())


def hyperparameters_source(cfg) -> str:
    """The directory the `--hyperparameters-from` Importer imports: the checked values as
    best_hyperparameters.txt (the one file TFX's Trainer reads), under the pipeline root named
    by their content."""
    import json

    _, values = resolve_hyperparameters(cfg)
    content = json.dumps({"values": values}, sort_keys=True)
    target = os.path.join(absolute(cfg.pipeline_root), "hyperparameters",
                          hashlib.sha256(content.encode()).hexdigest()[:12])
    write_text(os.path.join(target, BEST_HYPERPARAMETERS_FILE), content)
    return target


def latest_hyperparameters(metadata_path: str) -> Optional[str]:
    """The newest HyperParameters artifact's file in an lmpipe run's ML Metadata (None: none)."""
    import ml_metadata as mlmd

    store = mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        metadata_path))
    artifacts = store.get_artifacts_by_type("HyperParameters")
    if not artifacts:
        return None
    latest = max(artifacts, key=lambda a: a.id)
    return os.path.join(latest.uri, BEST_HYPERPARAMETERS_FILE)
