"""Builds small fine-tuned-looking Hugging Face token classifiers (random weights, fixed seeds)
and what transformers' own NER pipeline answers with them, for lmpipe's token-classification
import to be tested against (issue 23). Hugging Face side only; from the repository root:

    .venv-peer/bin/python bench/make_hf_taggers.py

Writes, beside bench/make_hf_checkpoints.py's checkpoints (same vocabulary, sizes, noise and
`save_pretrained` layout: config.json, model.safetensors, tokenizer.json,
tokenizer_config.json, no vocab.txt):

  tests/data/hf_checkpoints/bert_tagger/        BertForTokenClassification, cased
  tests/data/hf_checkpoints/distilbert_tagger/  DistilBertForTokenClassification, uncased

each with a non-default id2label order (O is not class 0; B-/I- not adjacent for every type),
the classifier bias shifted so that the mean logits over the sentences are 0 (every class is
predicted somewhere), and `expected_entities.jsonl`: per sentence, the text and the entities of
`pipeline("token-classification", aggregation_strategy="first")` (entity_group, start, end,
word, score). The sentences: 150 of tests/data/hf_checkpoints/sentences.txt (its crafted list
first: accents, CJK, emoji, long words, control characters) and the 150 `# text = ...` sentences
of data/ner/uner_en_ewt_sample/ (Universal NER, CC BY-SA 4.0), keeping those that fit one
window of 128 (the pipeline truncates longer ones).
"""

import json
import os
import sys

import numpy as np
import torch
from transformers import (BertForTokenClassification, BertTokenizerFast,
                          DistilBertForTokenClassification, DistilBertTokenizerFast, pipeline)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_hf_checkpoints import (MAX_LEN, OUT, SEED, VOCAB, bert_config,  # noqa: E402
                                 distil_config, perturb, save)

ID2LABEL = {0: "B-LOC", 1: "I-LOC", 2: "B-PER", 3: "O", 4: "I-PER", 5: "B-ORG", 6: "I-ORG"}


def texts():
    with open(os.path.join(OUT, "sentences.txt"), encoding="utf-8") as f:
        out = [json.loads(line) for line in f][:150]
    sample = "data/ner/uner_en_ewt_sample"
    ner = []
    for name in ("eval.iob2", "test.iob2", "train.iob2"):
        with open(os.path.join(sample, name), encoding="utf-8") as f:
            ner += [line[len("# text = "):].rstrip("\n") for line in f
                    if line.startswith("# text = ")]
    return out + ner[:150]


def main():
    sentences = texts()
    for name, cls, config, tokenizer, seed in [
            ("bert_tagger", BertForTokenClassification,
             bert_config(num_labels=7, id2label=ID2LABEL,
                         label2id={v: k for k, v in ID2LABEL.items()}),
             BertTokenizerFast(vocab=VOCAB, do_lower_case=False, model_max_length=MAX_LEN),
             SEED + 21),
            ("distilbert_tagger", DistilBertForTokenClassification,
             distil_config(num_labels=7, id2label=ID2LABEL,
                           label2id={v: k for k, v in ID2LABEL.items()}),
             DistilBertTokenizerFast(vocab=VOCAB, do_lower_case=True, model_max_length=MAX_LEN),
             SEED + 22)]:
        fits = [s for s in sentences if len(tokenizer(s)["input_ids"]) <= MAX_LEN]
        torch.manual_seed(seed)
        model = perturb(cls(config), seed)
        with torch.no_grad():
            enc = tokenizer(fits, truncation=True, max_length=MAX_LEN, padding=True,
                            return_tensors="pt", return_token_type_ids=False)
            logits = model(**enc).logits
            real = enc["attention_mask"].bool()
            model.classifier.bias -= logits[real].mean(0)
        path = os.path.join(OUT, name)
        save(model, tokenizer, path)
        ner = pipeline("token-classification", model=model, tokenizer=tokenizer,
                       aggregation_strategy="first", device="cpu")
        with open(os.path.join(path, "expected_entities.jsonl"), "w", encoding="utf-8") as f:
            counts = {}
            for text, entities in zip(fits, ner(fits)):
                rows = [{"entity_group": e["entity_group"], "start": int(e["start"]),
                         "end": int(e["end"]), "word": e["word"], "score": float(e["score"])}
                        for e in entities]
                for e in rows:
                    counts[e["entity_group"]] = counts.get(e["entity_group"], 0) + 1
                f.write(json.dumps({"text": text, "entities": rows}, ensure_ascii=False) + "\n")
        print(f"{path}: {len(fits)} sentences, entities {counts}")
        assert len(counts) == 3 and np.isfinite(list(counts.values())).all()


if __name__ == "__main__":
    main()
