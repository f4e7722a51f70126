"""TFMA metrics for language-model evaluation: token accuracy, loss and perplexity, for the
masked LM (masked positions) and the causal LM (next tokens).

The exported `mlm_eval` signature returns, per example, the number of masked positions, how
many the model predicted right and their summed negative log-likelihood (`masked_count`,
`masked_correct`, `masked_nll`); the causal LM's `lm_eval` the same over its next-token
predictions (`token_count`, `token_correct`, `token_nll`: models/causal_lm/export.py). These
metrics add them up over the eval split (or a slice), so accuracy and loss are per token, not
per example. Used from an EvalConfig as:

    tfma.MetricConfig(class_name="MaskedLMAccuracy", module="models.core.lm_metrics")
"""

import math
from typing import Iterable

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types

ACCURACY = "masked_accuracy"
LOSS = "masked_loss"
PERPLEXITY = "perplexity"
NEXT_TOKEN_ACCURACY = "next_token_accuracy"
TOKEN_LOSS = "token_loss"
# The per-example outputs each kind of model's eval signature gives: (correct, count, nll).
MASKED_FIELDS = ("masked_correct", "masked_count", "masked_nll")
CAUSAL_FIELDS = ("token_correct", "token_count", "token_nll")


def _computations(name, kind, fields=MASKED_FIELDS, model_names=None, output_names=None,
                  sub_keys=None, example_weighted=False, **_):
    del output_names, sub_keys
    computations = []
    for model_name in model_names or [""]:
        key = metric_types.MetricKey(name=name, model_name=model_name,
                                     example_weighted=example_weighted)
        computations.append(metric_types.MetricComputation(
            keys=[key], preprocessors=None,
            combiner=_MaskedTokenCombiner(key, model_name, kind, fields)))
    return computations


class _MaskedTokenCombiner(beam.CombineFn):
    """Sums (correct, count, nll) over examples; turns them into one metric value."""

    def __init__(self, key, model_name, kind, fields=MASKED_FIELDS):
        self._key, self._model_name, self._kind = key, model_name, kind
        self._fields = tuple(fields)

    def create_accumulator(self):
        return np.zeros(3)

    def add_input(self, accumulator, element):
        predictions = element.get_by_key("predictions", self._model_name or None)
        for offset, name in enumerate(self._fields):
            accumulator[offset] += float(np.sum(predictions[name]))
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]):
        return np.sum(list(accumulators), axis=0)

    def extract_output(self, accumulator):
        correct, count, nll = accumulator
        if count == 0:
            value = float("nan")
        elif self._kind in (ACCURACY, NEXT_TOKEN_ACCURACY):
            value = correct / count
        elif self._kind in (LOSS, TOKEN_LOSS):
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


class CausalLMAccuracy(metric_types.Metric):
    """Share of next-token predictions whose argmax is the actual next token."""

    def __init__(self, name: str = NEXT_TOKEN_ACCURACY):
        super().__init__(_computations, name=name, kind=NEXT_TOKEN_ACCURACY,
                         fields=CAUSAL_FIELDS)


class CausalLMLoss(metric_types.Metric):
    """Mean next-token cross-entropy (nats per token), as Hugging Face's `eval_loss`."""

    def __init__(self, name: str = TOKEN_LOSS):
        super().__init__(_computations, name=name, kind=TOKEN_LOSS, fields=CAUSAL_FIELDS)


class CausalLMPerplexity(metric_types.Metric):
    """exp(mean next-token cross-entropy)."""

    def __init__(self, name: str = PERPLEXITY):
        super().__init__(_computations, name=name, kind=PERPLEXITY, fields=CAUSAL_FIELDS)


for _metric in (MaskedLMAccuracy, MaskedLMLoss, MaskedLMPerplexity, CausalLMAccuracy,
                CausalLMLoss, CausalLMPerplexity):
    metric_types.register_metric(_metric)
