"""TFMA metrics for masked-LM evaluation: masked-token accuracy, loss and perplexity.

The exported `mlm_eval` signature returns, per example, the number of masked positions, how
many the model predicted right and their summed negative log-likelihood. These metrics add
them up over the eval split (or a slice), so accuracy and loss are per masked token, not per
example. Used from an EvalConfig as:

    tfma.MetricConfig(class_name="MaskedLMAccuracy", module="models.mlm_metrics")
"""

import math
from typing import Iterable

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types

ACCURACY = "masked_accuracy"
LOSS = "masked_loss"
PERPLEXITY = "perplexity"


def _computations(name, kind, model_names=None, output_names=None, sub_keys=None,
                  example_weighted=False, **_):
    del output_names, sub_keys
    computations = []
    for model_name in model_names or [""]:
        key = metric_types.MetricKey(name=name, model_name=model_name,
                                     example_weighted=example_weighted)
        computations.append(metric_types.MetricComputation(
            keys=[key], preprocessors=None,
            combiner=_MaskedTokenCombiner(key, model_name, kind)))
    return computations


class _MaskedTokenCombiner(beam.CombineFn):
    """Sums (correct, count, nll) over examples; turns them into one metric value."""

    def __init__(self, key, model_name, kind):
        self._key, self._model_name, self._kind = key, model_name, kind

    def create_accumulator(self):
        return np.zeros(3)

    def add_input(self, accumulator, element):
        predictions = element.get_by_key("predictions", self._model_name or None)
        for offset, name in enumerate(("masked_correct", "masked_count", "masked_nll")):
            accumulator[offset] += float(np.sum(predictions[name]))
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]):
        return np.sum(list(accumulators), axis=0)

    def extract_output(self, accumulator):
        correct, count, nll = accumulator
        if count == 0:
            value = float("nan")
        elif self._kind == ACCURACY:
            value = correct / count
        elif self._kind == LOSS:
            value = nll / count
        else:
            value = math.exp(min(nll / count, 50.0))
        return {self._key: value}


class MaskedLMAccuracy(metric_types.Metric):
    """Share of masked positions whose argmax prediction is the original token."""

    def __init__(self, name: str = ACCURACY):
        super().__init__(_computations, name=name, kind=ACCURACY)


class MaskedLMLoss(metric_types.Metric):
    """Mean cross-entropy (nats) per masked position."""

    def __init__(self, name: str = LOSS):
        super().__init__(_computations, name=name, kind=LOSS)


class MaskedLMPerplexity(metric_types.Metric):
    """exp(mean cross-entropy per masked position)."""

    def __init__(self, name: str = PERPLEXITY):
        super().__init__(_computations, name=name, kind=PERPLEXITY)


for _metric in (MaskedLMAccuracy, MaskedLMLoss, MaskedLMPerplexity):
    metric_types.register_metric(_metric)
