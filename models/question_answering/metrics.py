"""Exact match and F1 of extractive answers, as the official SQuAD evaluation scripts compute
them (rajpurkar.github.io/SQuAD-explorer: `evaluate-v1.1.py`, `evaluate-v2.0.py`), and the
TFMA metrics that add them up over the eval split from the model's `qa_eval` signature
(models/question_answering/export.py). The TFMA metrics are fractions in [0, 1], as every
lmpipe gate (`--min-f1 0.5`, `--max-regression 0.01`); `squad_scores` gives the scripts'
percentages.

An answer is normalised (lower case; ASCII punctuation removed; the articles a, an, the
removed; whitespace collapsed), F1 is over its whitespace tokens (the multiset overlap with a
gold answer's), and a question scores its best over its gold answers; the figures are the mean
over questions, x 100. A question without gold answers (SQuAD v2.0's unanswerable ones)
scores 1 only for the empty prediction, and a gold answer that normalises to nothing counts as
none: v2.0's rules, which are v1.1's on v1.1 data except for such a gold answer (v1.1 scores
it 0 against every prediction).
Used from an EvalConfig as:

    tfma.MetricConfig(class_name="SquadF1", module="models.question_answering.metrics")

>>> normalize_answer("The  Denver Broncos!")
'denver broncos'
>>> round(f1_score("Denver Broncos", "the Broncos"), 4), exact_match_score("Broncos.", "broncos")
(0.6667, True)
>>> scores = squad_scores(["Denver Broncos", ""], [["Denver Broncos", "Broncos"], []])
>>> scores["f1"], scores["HasAns_total"], scores["NoAns_exact_match"]
(100.0, 1, 100.0)
"""

import collections
import re
import string
from typing import Iterable, List, Sequence

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types

EXACT_MATCH, F1 = "exact_match", "f1"
_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower case, punctuation and articles removed, whitespace collapsed (the official
    scripts' `normalize_answer`)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def f1_score(prediction: str, gold: str) -> float:
    """Token F1 of two normalised answers; both empty score 1, one empty 0 (v2.0's rule)."""
    predicted, golden = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not predicted or not golden:
        return float(predicted == golden)
    common = sum((collections.Counter(predicted) & collections.Counter(golden)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(golden)
    return 2 * precision * recall / (precision + recall)


def exact_match_score(prediction: str, gold: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)


def question_scores(prediction: str, golds: Sequence[str]):
    """(exact match 0/1, F1) of one prediction: the best over the gold answers; no gold
    answers (or only ones that normalise to nothing): the empty answer is right (v2.0's
    `get_raw_scores`)."""
    golds = [g for g in golds if normalize_answer(g)] or [""]
    return (float(max(exact_match_score(prediction, g) for g in golds)),
            max(f1_score(prediction, g) for g in golds))


def squad_scores(predictions: Sequence[str], golds: Sequence[Sequence[str]]) -> dict:
    """The official scripts' figures (x 100) over questions: `exact_match`, `f1`, `total`, and,
    when some questions have no answer, v2.0's `HasAns_*` and `NoAns_*`."""
    scores = [question_scores(p, g) for p, g in zip(predictions, golds)]
    out = _means(scores)
    has = [s for s, g in zip(scores, golds) if len(g)]
    if len(has) < len(scores):
        out.update({f"HasAns_{k}": v for k, v in _means(has).items()})
        out.update({f"NoAns_{k}": v for k, v in _means(
            [s for s, g in zip(scores, golds) if not len(g)]).items()})
    return out


def _means(scores: List[tuple]) -> dict:
    n = len(scores)
    return {EXACT_MATCH: 100.0 * sum(s[0] for s in scores) / n if n else 0.0,
            F1: 100.0 * sum(s[1] for s in scores) / n if n else 0.0, "total": n}


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _computations(name, kind, model_names=None, output_names=None, sub_keys=None,
                  example_weighted=False, **_):
    del output_names, sub_keys
    return [metric_types.MetricComputation(
        keys=[metric_types.MetricKey(name=name, model_name=model_name,
                                     example_weighted=example_weighted)],
        preprocessors=None,
        combiner=_SquadCombiner(metric_types.MetricKey(name=name, model_name=model_name,
                                                       example_weighted=example_weighted),
                                model_name, kind))
        for model_name in model_names or [""]]


class _SquadCombiner(beam.CombineFn):
    """Sums the questions' exact match and F1; their mean x 100 is the metric."""

    def __init__(self, key, model_name, kind):
        self._key, self._model_name, self._kind = key, model_name, kind

    def create_accumulator(self):
        return np.zeros(3)  # exact match, F1, questions

    def add_input(self, accumulator, element):
        out = element.get_by_key("predictions", self._model_name or None)
        predictions = np.reshape(np.asarray(out["prediction"], dtype=object), [-1])
        golds = np.asarray(out["gold_answers"], dtype=object)
        golds = np.reshape(golds, [len(predictions), -1])
        counts = np.reshape(np.asarray(out["gold_count"]), [-1])
        for prediction, gold, count in zip(predictions, golds, counts):
            em, f1 = question_scores(_text(prediction), [_text(g) for g in gold[:int(count)]])
            accumulator += (em, f1, 1)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]):
        return np.sum(list(accumulators), axis=0)

    def extract_output(self, accumulator):
        em, f1, n = accumulator
        value = (em if self._kind == EXACT_MATCH else f1) / n if n else float("nan")
        return {self._key: value}


class _SquadMetric(metric_types.Metric):
    KIND = F1

    def __init__(self, name: str = "", **_):
        super().__init__(_computations, name=name or self.KIND, kind=self.KIND)


class SquadExactMatch(_SquadMetric):
    """`exact_match`: the share of questions whose answer is a gold one, normalised."""

    KIND = EXACT_MATCH


class SquadF1(_SquadMetric):
    """`f1`: the mean over questions of the best token F1 against a gold answer."""

    KIND = F1


for _metric in (SquadExactMatch, SquadF1):
    metric_types.register_metric(_metric)
