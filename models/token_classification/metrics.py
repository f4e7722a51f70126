"""Entity-level precision, recall and F1 (exact span and type match, micro-averaged and per
type) and word accuracy, as TFMA metrics: the field's NER metric, as `seqeval` (default mode)
and CoNLL's `conlleval` compute it.

The exported `tagging_eval` signature (models/token_classification/export.py) returns per example
and entity type the predicted entities that match a gold one exactly, the predicted ones and
the gold ones, plus the words tagged right and the words; these metrics add them up over the
eval split, so the result is the corpus-level (micro) figure, not a mean over sentences.
Used from an EvalConfig as:

    tfma.MetricConfig(class_name="EntityF1", module="models.token_classification.metrics",
                      config='{"entity_types": ["LOC", "PER"]}')

`entity_types` (the model's, sorted: models/token_classification/model.py: entity_type_names) names the
per-type metrics `entity_f1/PER`, ...; `entity_f1` is the micro average over every type.

>>> round(entity_scores(matched=[3, 1], predicted=[4, 1], gold=[3, 2])["f1"], 6)
0.8
"""

from typing import Iterable, Sequence

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types

F1, PRECISION, RECALL, WORD_ACCURACY = "entity_f1", "entity_precision", "entity_recall", \
    "token_accuracy"


def entity_scores(matched, predicted, gold) -> dict:
    """Micro precision, recall and F1 from per-type counts (0 where undefined, as seqeval)."""
    m, p, g = (float(np.sum(x)) for x in (matched, predicted, gold))
    precision = m / p if p else 0.0
    recall = m / g if g else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _computations(name, kind, entity_types=(), model_names=None, output_names=None,
                  sub_keys=None, example_weighted=False, **_):
    del output_names, sub_keys
    computations = []
    for model_name in model_names or [""]:
        keys = {None: metric_types.MetricKey(name=name, model_name=model_name,
                                             example_weighted=example_weighted)}
        if kind != WORD_ACCURACY:
            for i, entity_type in enumerate(entity_types):
                keys[i] = metric_types.MetricKey(name=f"{name}/{entity_type}",
                                                 model_name=model_name,
                                                 example_weighted=example_weighted)
        computations.append(metric_types.MetricComputation(
            keys=list(keys.values()), preprocessors=None,
            combiner=_EntityCombiner(keys, model_name, kind, len(entity_types))))
    return computations


class _EntityCombiner(beam.CombineFn):
    """Sums the per-type counts and the word counts; turns them into the metric values."""

    def __init__(self, keys, model_name, kind, types):
        self._keys, self._model_name, self._kind, self._types = keys, model_name, kind, types

    def create_accumulator(self):
        return np.zeros(3 * self._types + 2)

    def add_input(self, accumulator, element):
        out = element.get_by_key("predictions", self._model_name or None)
        t = self._types
        for offset, name in enumerate(("entity_matched", "entity_predicted", "entity_gold")):
            accumulator[offset * t:(offset + 1) * t] += np.reshape(
                np.asarray(out[name], np.float64), (-1, t)).sum(axis=0)
        accumulator[3 * t] += float(np.sum(out["words_correct"]))
        accumulator[3 * t + 1] += float(np.sum(out["words"]))
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]):
        return np.sum(list(accumulators), axis=0)

    def extract_output(self, accumulator):
        t = self._types
        matched, predicted, gold = (accumulator[i * t:(i + 1) * t] for i in range(3))
        if self._kind == WORD_ACCURACY:
            words = accumulator[3 * t + 1]
            return {self._keys[None]: accumulator[3 * t] / words if words else float("nan")}
        field = {F1: "f1", PRECISION: "precision", RECALL: "recall"}[self._kind]
        out = {self._keys[None]: entity_scores(matched, predicted, gold)[field]}
        for i in range(t):
            out[self._keys[i]] = entity_scores(matched[i], predicted[i], gold[i])[field]
        return out


class _EntityMetric(metric_types.Metric):
    KIND = F1

    def __init__(self, name: str = "", entity_types: Sequence[str] = (), **_):
        super().__init__(_computations, name=name or self.KIND, kind=self.KIND,
                         entity_types=list(entity_types))


class EntityF1(_EntityMetric):
    """Entity-level F1: micro over every type (`entity_f1`) and per type (`entity_f1/PER`)."""

    KIND = F1


class EntityPrecision(_EntityMetric):
    """Entity-level precision, micro and per type."""

    KIND = PRECISION


class EntityRecall(_EntityMetric):
    """Entity-level recall, micro and per type."""

    KIND = RECALL


class TokenAccuracy(_EntityMetric):
    """The share of words (the data's tokens) whose predicted tag is the gold one."""

    KIND = WORD_ACCURACY


for _metric in (EntityF1, EntityPrecision, EntityRecall, TokenAccuracy):
    metric_types.register_metric(_metric)
