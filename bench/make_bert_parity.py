"""Builds the small Hugging Face BERT checkpoint and the reference outputs that lmpipe's import
is tested against (tests/models/test_checkpoint_parity.py). Hugging Face side only: run it
with the bench's environment (`make bench` builds .venv-peer/), from the repository root:

    .venv-peer/bin/python bench/make_bert_parity.py

Writes tests/data/bert_parity/:
  checkpoint/     BertForMaskedLM with random weights (a non-default config: cased, Google's
                  reserved-id layout [PAD] 0, [unused0..98], [UNK] 100, [CLS] 101, [SEP] 102,
                  [MASK] 103; 2 layers, 128 positions), `save_pretrained` + its tokenizer
  sentences.txt   the sentences (bundled corpus and reviews, plus accents, CJK, emoji,
                  control characters, very long words), one per line
  pairs.npz       for 300 pairs of sentences, BertTokenizerFast's `[CLS] a [SEP] b [SEP]` ids
                  and token type ids, truncated longest first to PAIR_LENGTH
  expected.npz    per sentence, the token ids of the cased and of an uncased tokenizer over the
                  same vocabulary; for `hidden_index` (some of the corpus, all the crafted
                  ones), the last hidden states and MLM logits; for the fill-mask sentences,
                  the pipeline's top-k
"""

import json
import os
import random
import re

import numpy as np
import torch
from tokenizers import BertWordPieceTokenizer
from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast, pipeline

OUT = os.environ.get("PARITY_OUT", "tests/data/bert_parity")
SEED = 7
VOCAB_SIZE = 2800
HIDDEN_SENTENCES = 24  # of the corpus, plus every crafted one
MAX_LEN = 128
TOP_K = 10  # recorded; lmpipe's top 5 is compared with it after special tokens are dropped
PAIR_LENGTH = 24  # short, so that most pairs are truncated

# Text the bundled data lacks: accents, CJK, emoji, control characters, long words.
CRAFTED = [
    "Café déjà vu: the naïve coöperative façade of Zürich's Ångström lab.",
    "ÉCOLE NORMALE SUPÉRIEURE, São Paulo, Kraków, Reykjavík, İstanbul, Straße.",
    "北京是中国的首都。",
    "我喜欢看电影，尤其是科幻片。",
    "東京は日本の首都です。",
    "今日はいい天気ですね",
    "서울은 한국의 수도입니다.",
    "Mixed 中文 and English text: 你好 world!",
    "Emoji 😀 are not in the vocabulary 🎉🎉 nor are ☃ snowmen.",
    "Tabs\tand\nnewlines\r\nand zero\u200bwidth and soft\u00adhyphen and bell\u0007 chars.",
    "Control\u0000char and replacement \ufffd character.",
    "Pneumonoultramicroscopicsilicovolcanoconiosis is a long word.",
    "A" * 101 + " is too long but " + "b" * 100 + " is not.",
    "é" * 60 + " is 60 characters and 120 bytes.",
    "Ｆｕｌｌｗｉｄｔｈ letters and ﬁ ligatures and ™ signs.",
    "Punctuation!!! (brackets) [square] {curly} <angle> «guillemets» — dashes – and … ellipses.",
    "Numbers 3.14159, 1,000,000 and 10^6 and $5.00 and 50% off.",
    "URLs like https://example.com/path?q=1&x=2 and emails a.b@c.org.",
    "   leading and trailing spaces   ",
    "",
    "[MASK] [CLS] [SEP] [UNK] [PAD] stay whole, [mask] does not.",
    "word[MASK]word and ([MASK]) in brackets.",
    "Greek αβγ ΑΒΓ and Cyrillic Привет мир and Arabic مرحبا and Hebrew שלום.",
    "Thai ภาษาไทย and Hindi नमस्ते and Devanagari combining marks.",
]

FILL_MASK = [
    "The [MASK] of the city said on Tuesday.",
    "Anarchism is a political [MASK].",
    "It is a good and [MASK] film.",
    "The [MASK] was [MASK] by the government.",
    "北京是中国的[MASK]都。",
    "Café [MASK] vu.",
    "[MASK]",
    "He went to the [MASK] and bought some [MASK].",
    "The film is [MASK], but the acting is [MASK].",
    "Police said the [MASK] happened late at night.",
    "Their [MASK] were described as stateless societies.",
    "A [MASK] story and a romance.",
]


def corpus_sentences():
    sentences = []
    for name in ("wikipedia", "brown", "news"):
        with open(f"data/corpus/{name}.txt", encoding="utf-8") as f:
            for line in f:
                sentences += [s for s in re.split(r"(?<=[.!?])\s+", line.strip()) if s]
    with open("data/sentiment/rotten_tomatoes_sample.tsv", encoding="utf-8") as f:
        next(f)
        reviews = [line.rstrip("\n").split("\t", 1)[1] for line in f]
    rng = random.Random(SEED)
    return rng.sample(sentences, 2000) + rng.sample(reviews, 1000)


def google_vocab(texts):
    """A cased WordPiece vocabulary in Google's layout."""
    trainer = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    trainer.train_from_iterator(texts, vocab_size=VOCAB_SIZE, min_frequency=2,
                                special_tokens=[], limit_alphabet=1000)
    learned = sorted(trainer.get_vocab().items(), key=lambda kv: kv[1])
    # The CJK characters of the crafted text, one token each, as in Google's vocabularies.
    cjk = sorted({c for t in CRAFTED + FILL_MASK for c in t if 0x3000 <= ord(c) <= 0xD7AF})
    reserved = (["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]",
                "[MASK]"] + [f"[unused{i}]" for i in range(99, 120)])
    tokens = [t for t, _ in learned if t not in reserved]
    tokens += [c for c in cjk if c not in tokens]
    return reserved + tokens


def main():
    torch.manual_seed(SEED)
    sentences = corpus_sentences() + CRAFTED
    ckpt = os.path.join(OUT, "checkpoint")
    os.makedirs(ckpt, exist_ok=True)
    vocab_path = os.path.join(ckpt, "vocab.txt")
    if os.path.isfile(vocab_path) and not os.environ.get("RELEARN_VOCAB"):
        # The tokenizers library's learner breaks count ties differently from run to run: the
        # committed vocabulary makes a rerun reproduce the same files.
        with open(vocab_path, encoding="utf-8") as f:
            vocab = f.read().splitlines()
    else:
        vocab = google_vocab(sentences)
        with open(vocab_path, "w", encoding="utf-8") as f:
            f.write("\n".join(vocab) + "\n")
    cased = BertTokenizerFast(vocab=vocab_path, do_lower_case=False, tokenize_chinese_chars=True,
                              strip_accents=None)
    uncased = BertTokenizerFast(vocab=vocab_path, do_lower_case=True, tokenize_chinese_chars=True,
                                strip_accents=None)
    assert len(cased.get_vocab()) == len(vocab), "the tokenizer did not take the vocabulary"
    config = BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128,
                        max_position_embeddings=MAX_LEN, initializer_range=0.2,
                        pad_token_id=vocab.index("[PAD]"))
    model = BertForMaskedLM(config).eval()
    model.save_pretrained(ckpt, safe_serialization=True)
    cased.save_pretrained(ckpt)
    with open(os.path.join(ckpt, "tokenizer_config.json")) as f:
        tok_config = json.load(f)
    tok_config["do_lower_case"] = False  # what keras-hub's converter reads; say it explicitly
    with open(os.path.join(ckpt, "tokenizer_config.json"), "w") as f:
        json.dump(tok_config, f, indent=2)

    with open(os.path.join(OUT, "sentences.txt"), "w", encoding="utf-8") as f:
        # One sentence per line: JSON strings, because some hold newlines and control chars.
        for s in sentences:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")

    def ids(tok):
        rows = [tok(s, add_special_tokens=False)["input_ids"] for s in sentences]
        return np.array([len(r) for r in rows], np.int64), np.concatenate(
            [np.array(r, np.int64) for r in rows])

    cased_lengths, cased_ids = ids(cased)
    uncased_lengths, uncased_ids = ids(uncased)

    hidden_index = np.r_[:HIDDEN_SENTENCES, len(sentences) - len(CRAFTED):len(sentences)]
    batch = cased([sentences[i] for i in hidden_index], padding="max_length", truncation=True,
                  max_length=MAX_LEN, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
    hidden = out.hidden_states[-1].numpy()
    logits = out.logits.numpy()
    real = batch["attention_mask"].numpy().astype(bool)
    # Logits (a vocabulary's width each) at the first and last real position keep it small.
    positions = np.stack([np.flatnonzero(r)[[0, -1]] for r in real])
    fill = pipeline("fill-mask", model=model, tokenizer=cased, top_k=TOP_K, device="cpu")
    fill_ids, fill_scores = [], []
    for s in FILL_MASK:
        results = fill(s)
        if s.count("[MASK]") == 1:
            results = [results]
        for per_mask in results:
            fill_ids.append([r["token"] for r in per_mask])
            fill_scores.append([r["score"] for r in per_mask])
    np.savez_compressed(
        os.path.join(OUT, "expected.npz"),
        cased_lengths=cased_lengths, cased_ids=cased_ids,
        uncased_lengths=uncased_lengths, uncased_ids=uncased_ids,
        input_ids=batch["input_ids"].numpy(), attention_mask=real.astype(np.int64),
        hidden_index=hidden_index, hidden=hidden[real].astype(np.float32),  # real tokens only
        logit_positions=positions,
        logits=np.take_along_axis(logits, positions[..., None], axis=1).astype(np.float32),
        fill_mask_texts=np.array(FILL_MASK), fill_ids=np.array(fill_ids, np.int64),
        fill_scores=np.array(fill_scores, np.float32))
    rng = random.Random(SEED)
    pairs = [(rng.choice(sentences), rng.choice(sentences)) for _ in range(300)]
    encoded = cased([a for a, _ in pairs], [b for _, b in pairs], truncation="longest_first",
                    max_length=PAIR_LENGTH, padding="max_length")
    np.savez_compressed(os.path.join(OUT, "pairs.npz"), first=np.array(pairs)[:, 0],
                        second=np.array(pairs)[:, 1], input_ids=np.array(encoded["input_ids"]),
                        token_type_ids=np.array(encoded["token_type_ids"]),
                        max_length=PAIR_LENGTH)
    gaps = np.diff(-np.array(fill_scores), axis=1)[:, :5]
    print(f"{len(sentences)} sentences, vocabulary {len(vocab)}; smallest top-6 score gap "
          f"{gaps.min():.2e}")
    print({f: os.path.getsize(os.path.join(ckpt, f)) for f in os.listdir(ckpt)})


if __name__ == "__main__":
    main()
