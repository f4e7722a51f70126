"""Pipeline pieces that pretraining and fine-tuning share: the blessing gate and the wrapper."""

import os
from typing import List

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components.atomic_pusher import AtomicPusher
from pipeline.config import TrainingConfig


def overall_threshold(floor: float, max_regression: float) -> list:
    """At least `floor`, and at most `max_regression` below the latest blessed model, on the
    whole eval split (a `MetricConfig.per_slice_thresholds` value): small slices such as a
    text-length bucket are reported, but do not decide the blessing."""
    return [tfma.PerSliceMetricThreshold(
        slicing_specs=[tfma.SlicingSpec()],
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": floor}),
            change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                absolute={"value": -max_regression})))]


def evaluate_and_push(cfg: TrainingConfig, examples, model, eval_config: tfma.EvalConfig) -> List:
    """Resolver (latest blessed model) → Evaluator on the eval split → Pusher (blessed only,
    atomic for a polling server, at most `cfg.max_versions` kept)."""
    latest_blessed = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = tfx.components.Evaluator(
        examples=examples, model=model, baseline_model=latest_blessed.outputs["model"],
        eval_config=eval_config, example_splits=["eval"])
    pusher = AtomicPusher(
        model=model, model_blessing=evaluator.outputs["blessing"],
        custom_config={"max_versions": cfg.max_versions},
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=absolute(cfg.serving_model_dir))),
    ).with_id("Pusher")  # TFX's Pusher's id: summaries and lineage queries look for it
    return [latest_blessed, evaluator, pusher]


def absolute(path: str) -> str:
    """An absolute local path; URIs such as gs://bucket/dir are kept as they are."""
    return path if "://" in path else os.path.abspath(path)


def repo_file(*parts: str, image: bool = False) -> str:
    """A file shipped in this repository (e.g. schemas/corpus.pbtxt): here, or where the
    pipeline image (Dockerfile) puts the repository."""
    return os.path.join(IMAGE_REPO_ROOT if image else REPO_ROOT, *parts)


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE_REPO_ROOT = "/lmpipe"  # WORKDIR of the Dockerfile


def make_pipeline(cfg: TrainingConfig, components: List, local: bool = True) -> tfx.dsl.Pipeline:
    """The pipeline under `cfg.run_dir`: artifacts in pipeline/, caching, the Beam options;
    with SQLite ML Metadata when it runs here (Kubeflow/Vertex bring their own metadata)."""
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
