"""Records what the official SQuAD evaluation (as transformers 4.57.6 ships it:
`transformers.data.metrics.squad_metrics`, "adapted from the official SQuAD v2.0 evaluation
script": `normalize_answer`, `compute_exact`, `compute_f1`, and `get_raw_scores`' rule that gold
answers normalising to nothing count as the empty answer) scores for a set of predictions, so
that lmpipe's metric (models/question_answering/metrics.py) is tested against it without the
script at test time. From the repository root, in the second peer environment:

    .venv-peer-qa/bin/python bench/make_squad_scores.py

Writes tests/data/squad_scores.json: per question its gold answers (the first 120 questions of
../shared/datasets/qa/squad-v1.1-dev-part-a.json, SQuAD v1.1, CC BY-SA 4.0, and 6 unanswerable
ones), a prediction (variants of a gold answer: itself, other case, articles and punctuation
added, words cut or added, another question's answer, the empty answer) and the script's exact
match and F1; and the totals (x 100, as the script prints them).
"""

import json
import random

from transformers.data.metrics.squad_metrics import compute_exact, compute_f1, normalize_answer

DEV = "../shared/datasets/qa/squad-v1.1-dev-part-a.json"
OUT = "tests/data/squad_scores.json"


def variants(gold: str, other: str, rng: random.Random) -> str:
    words = gold.split()
    return rng.choice([
        gold, gold.upper(), f"the {gold}.", f"An {gold}, ", " ".join(words[:-1]) or gold,
        " ".join(words[1:]) or other, f"{gold} and more words", other, "",
        gold.replace(" ", "  "), f"({gold})"])


def main():
    rng = random.Random(35)
    with open(DEV, encoding="utf-8") as f:
        data = json.load(f)["data"]
    qas = [[a["text"] for a in qa["answers"]] for article in data
           for p in article["paragraphs"] for qa in p["qas"]][:120]
    rows = []
    for i, golds in enumerate(qas):
        rows.append({"golds": golds, "prediction": variants(rng.choice(golds),
                                                            rng.choice(qas[(i + 7) % 120]), rng)})
    for prediction in ("", "", "", "something", "the", "a b"):
        rows.append({"golds": [], "prediction": prediction})
    rows.append({"golds": ["the"], "prediction": ""})  # a gold that normalises to nothing
    for row in rows:
        golds = [g for g in row["golds"] if normalize_answer(g)] or [""]
        row["exact_match"] = max(compute_exact(g, row["prediction"]) for g in golds)
        row["f1"] = max(compute_f1(g, row["prediction"]) for g in golds)
    total = {"exact_match": 100.0 * sum(r["exact_match"] for r in rows) / len(rows),
             "f1": 100.0 * sum(r["f1"] for r in rows) / len(rows), "total": len(rows)}
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"source": "transformers 4.57.6 squad_metrics (official SQuAD v2.0 script)",
                   "totals": total, "questions": rows}, f, ensure_ascii=False, indent=1)
    print(OUT, total)


if __name__ == "__main__":
    main()
