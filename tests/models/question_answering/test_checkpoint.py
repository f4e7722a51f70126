"""Fine-tuned Hugging Face question-answering models imported as they are (issue 35): lmpipe's
served answers equal transformers 4.57.6's `pipeline("question-answering")` (its last release
with one) with the pipeline's defaults (windows of 384, doc_stride 128, max_question_len 64,
max_answer_len 15), top 3, on 234 question/context pairs: real SQuAD questions with their
paragraph, contexts of three to five paragraphs (several windows), and crafted contexts with
accents, CJK, emoji and control characters. Same answers, same character offsets, scores within
1e-4 (and 1e-3 relative). Fixtures: bench/make_hf_qa.py."""

import json
import os

import pytest
import tensorflow as tf

from models import checkpoints
from models.question_answering import export as qae
from models.question_answering.checkpoint import load_span_model
from models.question_answering.settings import QuestionAnsweringSettings
from models.tokenizers.wordpiece import Tokenizer
from tests.conftest import REPO

DATA = os.path.join(REPO, "tests", "data", "hf_checkpoints")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def served(name, pairs):
    ckpt = checkpoints.inspect(os.path.join(DATA, name))
    assert ckpt.task == checkpoints.QUESTION_ANSWERING and ckpt.classes == ()
    model = load_span_model(ckpt, dropout=0.0)
    answer = qae.answer_fn(model, Tokenizer(list(ckpt.vocab), ckpt.tokenizer),
                           QuestionAnsweringSettings(top_k=3))
    rows = []
    for i in range(0, len(pairs), 32):
        chunk = pairs[i:i + 32]
        out = {k: v.numpy() for k, v in answer(
            tf.constant([p["question"] for p in chunk]),
            tf.constant([p["context"] for p in chunk])).items()}
        for r in range(len(chunk)):
            rows.append([{"answer": out["answers"][r, j].decode(), "start": int(out["starts"][r, j]),
                          "end": int(out["ends"][r, j]), "score": float(out["scores"][r, j])}
                         for j in range(3) if out["starts"][r, j] >= 0])
            assert out["answer"][r] == out["answers"][r, 0] and out["has_answer"][r]
    return rows


@pytest.mark.parametrize("name", ["bert_qa", "distilbert_qa"])
def test_answers_offsets_and_scores_are_the_pipelines(name):
    pairs = read_jsonl(os.path.join(DATA, "qa_pairs.jsonl"))
    expected = read_jsonl(os.path.join(DATA, name, "expected_answers.jsonl"))
    rows = served(name, pairs)
    kinds = {}
    for pair, case, ours in zip(pairs, expected, rows):
        theirs = case["answers"]
        assert [(a["answer"], a["start"], a["end"]) for a in ours] == \
            [(a["answer"], a["start"], a["end"]) for a in theirs], pair["question"]
        for a, b in zip(ours, theirs):
            assert pair["context"][a["start"]:a["end"]] == a["answer"]
            assert a["score"] == pytest.approx(b["score"], abs=1e-4, rel=1e-3)
        kinds[pair["kind"]] = kinds.get(pair["kind"], 0) + 1
    assert kinds == {"paragraph": 150, "long": 60, "crafted": 24}
