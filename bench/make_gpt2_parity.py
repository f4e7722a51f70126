"""Builds the small Hugging Face GPT-2 checkpoint and the reference outputs that lmpipe's causal
LM is tested against (tests/models/causal_lm/test_parity.py). Hugging Face side only: run it
with the bench's environment (`make bench` builds .venv-peer/), from the repository root:

    .venv-peer/bin/python bench/make_gpt2_parity.py

About two minutes on one CPU core. Writes tests/data/gpt2_parity/:
  checkpoint/     GPT2LMHeadModel (a non-default config: 512 tokens, 64 positions, hidden 64,
                  3 layers, 4 heads), briefly trained on the bundled corpus so that greedy
                  output is not one token repeated; `save_pretrained` (safetensors) plus the
                  byte-level BPE it was trained with, `vocab.json` + `merges.txt` (learned here
                  by Hugging Face's `tokenizers` on data/corpus/*.txt: 256 bytes, 255 merges
                  and `<|endoftext|>`)
  sentences.txt   the sentences, one JSON string per line (some hold newlines, tabs and runs
                  of spaces): bundled corpus sentences and paragraph breaks, reviews, web
                  text, then crafted ones (accents, CJK, emoji sequences, whitespace runs,
                  very long words, numbers, contractions, `<|endoftext|>` inside text)
  expected.npz    (keys in tests/data/gpt2_parity/README.md) GPT2TokenizerFast's ids of every
                  sentence; GPT2LMHeadModel's logits on the ids of a few sentences; for 30
                  prompts, the greedy continuation of 20 tokens and its decoded text

A rerun reuses the committed vocabulary (the tokenizers library's learner breaks count ties
differently from run to run); RELEARN_VOCAB=1 learns it again.
"""

import json
import os
import random
import re

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

OUT = os.environ.get("PARITY_OUT", "tests/data/gpt2_parity")
CORPUS = [f"data/corpus/{name}.txt" for name in ("wikipedia", "brown", "news")]
EOT = "<|endoftext|>"
SEED = 11
VOCAB_SIZE = 512
POSITIONS = 64
BLOCK = 64  # training blocks: the model's positions
TRAIN_STEPS = 300
BATCH = 32
LOGIT_SENTENCES = 12  # logits are 2 KB a token: 12 sentences of up to 40 tokens keep it small
LOGIT_TOKENS = 40
PROMPTS = 30
NEW_TOKENS = 20
MAX_PROMPT_TOKENS = POSITIONS - NEW_TOKENS  # so that Hugging Face never runs out of positions

# Text the bundled data lacks or has little of.
CRAFTED = [
    "Café déjà vu: the naïve coöperative façade of Zürich's Ångström lab.",
    "ÉCOLE NORMALE SUPÉRIEURE, São Paulo, Kraków, Reykjavík, İstanbul, Straße, Øresund.",
    "Decomposed accents: Cafe\u0301, nai\u0308ve, A\u030angstro\u0308m.",
    "北京是中国的首都。",
    "我喜欢看电影，尤其是科幻片。",
    "東京は日本の首都です。カタカナとひらがな。",
    "서울은 한국의 수도입니다.",
    "Mixed 中文 and English text: 你好 world!",
    "Emoji 😀 and 🎉🎉 and a snowman ☃ and a heart ❤️.",
    "Skin tones 👍🏽 👋🏿 and families 👨‍👩‍👧‍👦 and 👩🏾‍💻 and flags 🇫🇷🇯🇵 and keycaps 1️⃣.",
    "two  spaces, three   spaces, and    four",
    "   leading spaces and trailing spaces   ",
    "trailing single space ",
    "Tabs\tbetween\t\twords and\t \tmixed",
    "Line one\nline two\n\nA new paragraph after a blank line.",
    "Windows\r\nline endings\r\n",
    "space before newline \nand after\n next",
    "three blank lines\n\n\n\nthen text",
    "no-break\u00a0space, 10\u00a0km, em\u2003space, ideographic\u3000space, thin\u2009space",
    "Pneumonoultramicroscopicsilicovolcanoconiosis is a long word.",
    "Supercalifragilisticexpialidocious" * 3,
    "a" * 150 + " and " + "é" * 40,
    "https://example.com/a/very/long/path/with-many-parts?query=value&other=1#fragment",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "Numbers 3.14159, 1,000,000 and 2024-01-01 and 1234567890123 and $5.00 and 50% off.",
    "It's, we'll, they're, I've, I'm, he'd, don't, CAN'T, IT'S and 'tis the season.",
    "Quotes 'single' and \"double\" and ‘curly’ and “curly” and «guillemets».",
    "Punctuation!!! (brackets) [square] {curly} <angle> — dashes – and … ellipses???",
    "first document<|endoftext|>second document",
    "a <|endoftext|> b",
    "<|endoftext|>",
    "<|endoftext|><|endoftext|>",
    "an unfinished <|endoftext",
    "Greek αβγ ΑΒΓ and Cyrillic Привет мир and Arabic مرحبا and Hebrew שלום.",
    "Thai ภาษาไทย and Hindi नमस्ते and the year २०२४ in Devanagari digits, ६ and ७.",
    "Control\u0000char, bell\u0007, replacement \ufffd, zero\u200bwidth, soft\u00adhyphen, \ufeffBOM.",
    "Ｆｕｌｌｗｉｄｔｈ letters and ﬁ ligatures and ™ signs and ½ fractions.",
    "",
]


def corpus_documents():
    docs = []
    for path in CORPUS:
        with open(path, encoding="utf-8") as f:
            docs += [d.strip("\n") for d in f.read().split("\n\n") if d.strip()]
    return docs


def real_sentences(rng):
    """Sentences of the bundled corpus, reviews and web text (Universal NER's EWT sample), and
    corpus excerpts across line and paragraph breaks."""
    sentences = []
    for path in CORPUS:
        with open(path, encoding="utf-8") as f:
            for line in f:
                sentences += [s for s in re.split(r"(?<=[.!?])\s+", line.strip()) if s]
    with open("data/sentiment/rotten_tomatoes_sample.tsv", encoding="utf-8") as f:
        next(f)
        reviews = [line.rstrip("\n").split("\t", 1)[1] for line in f]
    web = []
    for name in ("train", "eval", "test"):
        with open(f"data/ner/uner_en_ewt_sample/{name}.iob2", encoding="utf-8") as f:
            web += [line[len("# text = "):].rstrip("\n") for line in f
                    if line.startswith("# text = ")]
    excerpts = []
    for path in CORPUS:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        breaks = [m.start() for m in re.finditer(r"\n", text)]
        for at in rng.sample(breaks, 4):
            excerpts.append(text[max(0, at - 60):at + 60])
    # Greek, accents and dashes: every corpus sentence with characters outside ASCII
    unusual = [s for s in sentences if re.search(r"[^\x00-\x7f]", s)]
    return (rng.sample(sentences, 150) + rng.sample(unusual, 20) + rng.sample(reviews, 50)
            + rng.sample(web, 50) + excerpts)


def learn_vocab(ckpt):
    """A byte-level BPE of VOCAB_SIZE tokens on the corpus documents (reused if committed)."""
    if os.path.isfile(os.path.join(ckpt, "vocab.json")) and not os.environ.get("RELEARN_VOCAB"):
        return
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(corpus_documents(), trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=[EOT], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    assert tokenizer.get_vocab_size() == VOCAB_SIZE, tokenizer.get_vocab_size()
    tokenizer.model.save(ckpt)


def train(model, blocks, rng):
    """A few hundred AdamW steps on random blocks (dropout on, as GPT-2 trains)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3,
                                                   total_steps=TRAIN_STEPS, pct_start=0.1)
    model.train()
    for step in range(TRAIN_STEPS):
        batch = blocks[torch.tensor(rng.sample(range(len(blocks)), BATCH))]
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == TRAIN_STEPS - 1:
            print(f"step {step}: loss {loss.item():.3f}")
    model.eval()


def main():
    torch.set_num_threads(1)  # faster than two on a shared two-core machine
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    ckpt = os.path.join(OUT, "checkpoint")
    os.makedirs(ckpt, exist_ok=True)
    learn_vocab(ckpt)
    tokenizer = GPT2TokenizerFast.from_pretrained(ckpt)  # from vocab.json + merges.txt
    eot = tokenizer.convert_tokens_to_ids(EOT)
    assert len(tokenizer) == VOCAB_SIZE and tokenizer.eos_token_id == eot

    # Training data: documents joined with <|endoftext|>, cut into blocks (run_clm.py).
    stream = []
    for doc in corpus_documents():
        stream += tokenizer(doc)["input_ids"] + [eot]
    blocks = torch.tensor(stream[:len(stream) // BLOCK * BLOCK]).view(-1, BLOCK)
    print(f"{len(stream)} training tokens, {len(blocks)} blocks")
    config = GPT2Config(vocab_size=VOCAB_SIZE, n_positions=POSITIONS, n_embd=64, n_layer=3,
                        n_head=4, bos_token_id=eot, eos_token_id=eot)
    model = GPT2LMHeadModel(config)
    train(model, blocks, random.Random(SEED))
    model.save_pretrained(ckpt, safe_serialization=True)

    rng = random.Random(SEED)  # the choice of sentences, whatever the training did
    sentences = real_sentences(rng) + CRAFTED
    with open(os.path.join(OUT, "sentences.txt"), "w", encoding="utf-8") as f:
        for s in sentences:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    rows = [tokenizer(s)["input_ids"] for s in sentences]
    # The tokenizer as trained (tokenizers' own Tokenizer with the same files) agrees.
    raw = Tokenizer(models.BPE.from_file(os.path.join(ckpt, "vocab.json"),
                                         os.path.join(ckpt, "merges.txt")))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.add_special_tokens([EOT])
    assert rows == [e.ids for e in raw.encode_batch(sentences)]
    for s, row in zip(sentences, rows):
        assert tokenizer.decode(row) == s, s  # byte-level: every text comes back

    # Logits: GPT2LMHeadModel(input_ids) on each sentence's first LOGIT_TOKENS ids, alone.
    candidates = [i for i, r in enumerate(rows) if len(r) >= 2]
    crafted_start = len(sentences) - len(CRAFTED)
    logit_index = sorted(rng.sample([i for i in candidates if i < crafted_start], 8)
                         + rng.sample([i for i in candidates if i >= crafted_start], 4))
    assert len(logit_index) == LOGIT_SENTENCES
    logit_rows, logits = [], []
    with torch.no_grad():
        for i in logit_index:
            ids = rows[i][:LOGIT_TOKENS]
            logit_rows.append(ids)
            logits.append(model(input_ids=torch.tensor([ids])).logits[0].numpy())

    # Prompts: the start (3 to 12 words) of sentences, crafted ones too, of at most
    # MAX_PROMPT_TOKENS tokens; the greedy continuation of each, alone (no padding).
    prompts = []
    order = rng.sample(range(crafted_start), crafted_start)[:22] + rng.sample(
        [i for i in range(crafted_start, len(sentences)) if sentences[i].strip()], 8)
    for i in order:
        words = sentences[i].split(" ")
        prompt = " ".join(words[:rng.randint(3, 12)])
        while len(tokenizer(prompt)["input_ids"]) > MAX_PROMPT_TOKENS:
            prompt = prompt[:-1]
        prompts.append(prompt)
    assert len(prompts) == PROMPTS and all(prompts)
    prompt_rows = [tokenizer(prompt)["input_ids"] for prompt in prompts]
    continuations, texts, margins = [], [], []
    with torch.no_grad():
        for row in prompt_rows:
            ids = torch.tensor([row])
            out = model.generate(ids, attention_mask=torch.ones_like(ids),
                                 max_new_tokens=NEW_TOKENS, do_sample=False, eos_token_id=eot,
                                 pad_token_id=eot, output_scores=True,
                                 return_dict_in_generate=True)
            new = out.sequences[0, ids.shape[1]:].tolist()
            continuations.append(new + [-1] * (NEW_TOKENS - len(new)))
            kept = new[:new.index(eot)] if eot in new else new
            texts.append(tokenizer.decode(kept))
            top2 = torch.stack(out.scores)[:, 0].topk(2).values
            margins.append(float((top2[:, 0] - top2[:, 1]).min()))
    distinct = {tuple(c) for c in continuations}
    tokens = {t for c in continuations for t in c if t >= 0}
    assert len(distinct) >= PROMPTS // 2 and len(tokens) >= 20, (len(distinct), len(tokens))

    np.savez_compressed(
        os.path.join(OUT, "expected.npz"),
        token_lengths=np.array([len(r) for r in rows], np.int32),
        token_ids=np.array([t for r in rows for t in r], np.int32),
        logit_index=np.array(logit_index, np.int32),
        logit_lengths=np.array([len(r) for r in logit_rows], np.int32),
        logits=np.concatenate(logits).astype(np.float32),
        prompts=np.array(prompts),
        prompt_lengths=np.array([len(r) for r in prompt_rows], np.int32),
        prompt_ids=np.array([t for r in prompt_rows for t in r], np.int32),
        continuations=np.array(continuations, np.int32),
        continuation_texts=np.array(texts),
        greedy_margins=np.array(margins, np.float32))
    print(f"{len(sentences)} sentences, {sum(map(len, rows))} tokens; logits for "
          f"{sum(map(len, logit_rows))} positions; {len(distinct)} distinct continuations "
          f"using {len(tokens)} tokens, smallest top-2 logit margin {min(margins):.2e}")
    for prompt, text in list(zip(prompts, texts))[:6]:
        print(f"  {prompt!r} -> {text!r}")
    sizes = {f: os.path.getsize(os.path.join(ckpt, f)) for f in sorted(os.listdir(ckpt))}
    total = sum(sizes.values()) + sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT)
                                      if os.path.isfile(os.path.join(OUT, f)))
    print(sizes, f"total {total} bytes")


if __name__ == "__main__":
    main()
