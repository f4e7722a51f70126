"""The gate both pipelines end with: the latest blessed model (Resolver) → Evaluator (TFMA,
thresholds and no regression) → Pusher (blessed models only, atomically).

The Evaluator gets the blessing thresholds, the Pusher the serving directory and version cap;
neither reaches the Trainer, so changing them reruns only these steps."""

from typing import List

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components.atomic_pusher import AtomicPusher
from pipeline.tfx_pipeline import absolute


def overall_threshold(floor: float, max_regression: float, lower_is_better: bool = False) -> list:
    """At least `floor`, and at most `max_regression` below the baseline (the latest blessed
    model; a negative `max_regression` asks for that much gain), on the whole eval split (a
    `MetricConfig.per_slice_thresholds` value): small slices such as a text-length bucket are
    reported, but do not decide the blessing. `lower_is_better` (perplexity): at most `floor`
    (a ceiling), and at most `max_regression` above the baseline."""
    if lower_is_better:
        value = tfma.GenericValueThreshold(upper_bound={"value": floor})
        change = tfma.GenericChangeThreshold(direction=tfma.MetricDirection.LOWER_IS_BETTER,
                                             absolute={"value": max_regression})
    else:
        value = tfma.GenericValueThreshold(lower_bound={"value": floor})
        change = tfma.GenericChangeThreshold(direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                                             absolute={"value": -max_regression})
    return [tfma.PerSliceMetricThreshold(
        slicing_specs=[tfma.SlicingSpec()],
        threshold=tfma.MetricThreshold(value_threshold=value, change_threshold=change))]


def evaluate_and_push(examples, model, eval_config: tfma.EvalConfig, serving_model_dir: str,
                      max_versions: int, baseline_model=None) -> List:
    """Resolver (latest blessed model) → Evaluator on the eval split → Pusher (blessed only,
    atomic for a polling server, at most `max_versions` kept; 0 keeps all).

    `baseline_model`: a model channel to compare with instead of the latest blessed model
    (continued pretraining compares with the checkpoint it started from)."""
    steps = []
    if baseline_model is None:
        latest_blessed = tfx.dsl.Resolver(
            strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
            model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
            model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
        ).with_id("latest_blessed_model_resolver")
        steps.append(latest_blessed)
        baseline_model = latest_blessed.outputs["model"]
    evaluator = tfx.components.Evaluator(
        examples=examples, model=model, baseline_model=baseline_model,
        eval_config=eval_config, example_splits=["eval"])
    pusher = AtomicPusher(
        model=model, model_blessing=evaluator.outputs["blessing"],
        custom_config={"max_versions": max_versions},
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=absolute(serving_model_dir))),
    ).with_id("Pusher")  # TFX's Pusher's id: summaries and lineage queries look for it
    return steps + [evaluator, pusher]
