"""lmpipe's SQuAD exact match and F1 (models/question_answering/metrics.py) against the official
evaluation script's numbers on the same predictions (recorded by bench/make_squad_scores.py with
transformers 4.57.6's copy of the script: tests/data/squad_scores.json): every question's
score and the totals."""

import json
import os

import pytest

from models.question_answering import metrics
from tests.conftest import REPO


@pytest.fixture(scope="module")
def recorded():
    with open(os.path.join(REPO, "tests", "data", "squad_scores.json"), encoding="utf-8") as f:
        return json.load(f)


def test_every_question_scores_as_the_official_script(recorded):
    rows = recorded["questions"]
    assert len(rows) == 127 and sum(not r["golds"] for r in rows) == 6
    for row in rows:
        em, f1 = metrics.question_scores(row["prediction"], row["golds"])
        assert (em, f1) == (pytest.approx(row["exact_match"]), pytest.approx(row["f1"])), row
    kinds = {(r["exact_match"], 0 < r["f1"] < 1) for r in rows}
    assert {(1, False), (0, True), (0, False)} <= kinds  # right, partly right and wrong ones


def test_totals_are_the_official_scripts(recorded):
    rows = recorded["questions"]
    scores = metrics.squad_scores([r["prediction"] for r in rows], [r["golds"] for r in rows])
    for key in ("exact_match", "f1", "total"):
        assert scores[key] == pytest.approx(recorded["totals"][key], abs=1e-9)
    assert scores["NoAns_total"] == 6 and scores["HasAns_total"] == 121
