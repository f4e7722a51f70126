"""TFMA metrics for masked-LM evaluation (models/core/lm_metrics.py)."""

import math

import numpy as np
import pytest
from tensorflow_model_analysis.metrics import metric_types

from models.core import lm_metrics


def test_tfma_metrics_add_up_per_masked_token():
    inputs = [metric_types.StandardMetricInputs(predictions={
        "masked_correct": np.array([c]), "masked_count": np.array([n]), "masked_nll": np.array([nll])})
        for c, n, nll in [(1.0, 2.0, 2.0), (3.0, 3.0, 1.0)]]
    results = {}
    for metric in (lm_metrics.MaskedLMAccuracy(), lm_metrics.MaskedLMLoss(),
                   lm_metrics.MaskedLMPerplexity()):
        computation, = metric.computations()
        combiner = computation.combiner
        accumulator = combiner.create_accumulator()
        for element in inputs:
            accumulator = combiner.add_input(accumulator, element)
        merged = combiner.merge_accumulators([accumulator, combiner.create_accumulator()])
        results.update({k.name: v for k, v in combiner.extract_output(merged).items()})
    assert results["masked_accuracy"] == pytest.approx(4 / 5)
    assert results["masked_loss"] == pytest.approx(3 / 5)
    assert results["perplexity"] == pytest.approx(math.exp(3 / 5))
