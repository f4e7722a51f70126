"""Builds small fine-tuned-looking Hugging Face question-answering models (random weights, fixed
seeds) and records what transformers' own question-answering pipeline answers with them, for
lmpipe's question-answering import to be tested against (issue 35). Hugging Face side only; from
the repository root, two steps in two environments:

    .venv-peer/bin/python bench/make_hf_qa.py build       # transformers 5: save the models
    .venv-peer-qa/bin/python bench/make_hf_qa.py record   # transformers 4.57.6: the pipeline

transformers 5 removed the `question-answering` pipeline; 4.57.6, the last release with it, runs
in `.venv-peer-qa` (`python3.11 -m venv .venv-peer-qa && .venv-peer-qa/bin/pip install
torch==2.13.0 transformers==4.57.6`). `build` writes, beside bench/make_hf_checkpoints.py's
checkpoints (same vocabulary, sizes, noise and `save_pretrained` layout; 512 positions, so that
the pipeline's defaults apply: windows of 384, doc_stride 128, max_question_len 64,
max_answer_len 15):

  tests/data/hf_checkpoints/bert_qa/        BertForQuestionAnswering, cased
  tests/data/hf_checkpoints/distilbert_qa/  DistilBertForQuestionAnswering, uncased

and tests/data/hf_checkpoints/qa_pairs.jsonl: the questions and contexts, real ones from
../shared/datasets/qa/squad-v1.1-dev-part-a.json (SQuAD v1.1, CC BY-SA 4.0): 150 questions
with their paragraph, 60 with three to five paragraphs of their article joined (contexts longer
than one window), and 24 crafted contexts (accents, CJK, emoji, control characters: the
crafted sentences of tests/data/hf_checkpoints/sentences.txt, three joined) with questions.
`record` writes `expected_answers.jsonl` into each model's directory: per pair,
`pipeline("question-answering")(question=..., context=..., top_k=3)`'s answers (answer,
start, end, score).
"""

import json
import os
import random
import sys

OUT = os.environ.get("HF_CHECKPOINTS_OUT", "tests/data/hf_checkpoints")
PAIRS = os.path.join(OUT, "qa_pairs.jsonl")
DEV = "../shared/datasets/qa/squad-v1.1-dev-part-a.json"
MODELS = ("bert_qa", "distilbert_qa")
POSITIONS = 512
TOP_K = 3


def pairs():
    """The question/context pairs (module docstring), deterministic."""
    rng = random.Random(35)
    with open(DEV, encoding="utf-8") as f:
        articles = json.load(f)["data"]
    out = []
    questions = [(qa["question"], p["context"], a["title"])
                 for a in articles for p in a["paragraphs"] for qa in p["qas"]]
    for question, context, _ in rng.sample(questions, 150):
        out.append({"question": question, "context": context, "kind": "paragraph"})
    for article in rng.sample(articles, 20):
        paragraphs = article["paragraphs"]
        for _ in range(3):
            first = rng.randrange(0, max(1, len(paragraphs) - 5))
            chosen = paragraphs[first:first + rng.randint(3, 5)]
            qa = rng.choice(rng.choice(chosen)["qas"])
            out.append({"question": qa["question"],
                        "context": " ".join(p["context"] for p in chosen), "kind": "long"})
    with open(os.path.join(OUT, "sentences.txt"), encoding="utf-8") as f:
        crafted = [json.loads(line) for line in f][:24]
    for i in range(24):
        context = " ".join(crafted[(i + k) % 24] for k in range(3))
        out.append({"question": rng.choice(["What is it?", "Wer ist das?", "これは何ですか？",
                                            "Where did Zoë go? 🙂"]),
                    "context": context, "kind": "crafted"})
    return out


def build():
    import torch
    from transformers import (BertForQuestionAnswering, BertTokenizerFast,
                              DistilBertForQuestionAnswering, DistilBertTokenizerFast)

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from make_hf_checkpoints import SEED, VOCAB, bert_config, distil_config, perturb, save

    with open(PAIRS, "w", encoding="utf-8") as f:
        for pair in pairs():
            f.write(json.dumps(pair, ensure_ascii=False) + "\n")
    for name, cls, config, tokenizer, seed in [
            ("bert_qa", BertForQuestionAnswering, bert_config(),
             BertTokenizerFast(vocab=VOCAB, do_lower_case=False, model_max_length=POSITIONS),
             SEED + 35),
            ("distilbert_qa", DistilBertForQuestionAnswering, distil_config(),
             DistilBertTokenizerFast(vocab=VOCAB, do_lower_case=True,
                                     model_max_length=POSITIONS), SEED + 36)]:
        config.max_position_embeddings = POSITIONS
        torch.manual_seed(seed)
        model = perturb(cls(config), seed)
        save(model, tokenizer, os.path.join(OUT, name))
        print(f"{os.path.join(OUT, name)}: {cls.__name__}")


def record():
    import transformers
    from transformers import pipeline

    assert transformers.__version__ == "4.57.6", transformers.__version__
    with open(PAIRS, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    for name in MODELS:
        path = os.path.join(OUT, name)
        qa = pipeline("question-answering", model=path, tokenizer=path, device="cpu")
        with open(os.path.join(path, "expected_answers.jsonl"), "w", encoding="utf-8") as f:
            for row in rows:
                answers = qa(question=row["question"], context=row["context"], top_k=TOP_K)
                answers = answers if isinstance(answers, list) else [answers]
                f.write(json.dumps({"answers": [
                    {"answer": a["answer"], "start": int(a["start"]), "end": int(a["end"]),
                     "score": float(a["score"])} for a in answers]}, ensure_ascii=False) + "\n")
        print(f"{path}/expected_answers.jsonl: {len(rows)} pairs, transformers "
              f"{transformers.__version__}")


if __name__ == "__main__":
    {"build": build, "record": record}[sys.argv[1]]()
