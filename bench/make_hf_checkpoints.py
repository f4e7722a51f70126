"""Builds small Hugging Face checkpoints (random weights, fixed seeds) in the layouts that
transformers 5 and sentence-transformers write, and reference outputs for lmpipe's import to be
tested against. Hugging Face side only: run it with the bench's environment (`make bench` builds
.venv-peer/), from the repository root:

    .venv-peer/bin/python bench/make_hf_checkpoints.py

Every checkpoint is `save_pretrained` output of transformers 5.23 for the model and the tokenizer:
config.json, model.safetensors, tokenizer.json, tokenizer_config.json. transformers 5 writes no
vocab.txt (the vocabulary lives in tokenizer.json only); should a version write one, it is deleted,
so that lmpipe is tested on the transformers 5 layout. The tokenizers are built with
`BertTokenizerFast(vocab=..., do_lower_case=...)` (transformers 5 ignores `vocab_file=`) from the
committed WordPiece vocabulary tests/data/bert_parity/checkpoint/vocab.txt (2,925 tokens, Google's
layout: [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103), with model_max_length 128.
Models: hidden 64, 2 layers, 2 heads, intermediate 128, 128 positions, initializer_range 0.2;
every bias and LayerNorm/layer_norm weight, which transformers initialises to 0 or 1, gets
N(0, 0.1) noise added, so that a converter that drops or swaps one of them fails the parity tests;
the classifiers' output bias is then shifted so that their mean logits over the first 200
sentences are 0 (every class is predicted for some).

Writes tests/data/hf_checkpoints/ (see its README.md):
  sentences.txt            2,000 sentences, one per line, each a JSON string (as
                           tests/data/bert_parity/sentences.txt): the CRAFTED list of
                           bench/make_bert_parity.py first (line breaks inside it replaced by a
                           space: no sentence holds \\n, \\r or any other line boundary), then
                           reviews of data/sentiment/rotten_tomatoes.tsv and sentences of
                           data/corpus/*.txt, shuffled with a fixed seed
  st_minilm/               BertModel (with pooler) in the sentence-transformers layout of
                           all-MiniLM-L6-v2: transformer files at the root, modules.json
                           (Transformer, Pooling, Normalize), 1_Pooling/config.json (mean),
                           sentence_bert_config.json, config_sentence_transformers.json; uncased
  st_subfolder/            the same weights and tokenizer, the transformer in 0_Transformer/
                           (modules.json: Transformer at "0_Transformer", Pooling; no Normalize),
                           1_Pooling/config.json with CLS pooling
  distilbert_mlm/          DistilBertForMaskedLM, DistilBertTokenizerFast, uncased
  bert_classifier/         BertForSequenceClassification, 3 labels, id2label
                           {0: negative, 1: neutral, 2: positive}, cased
  distilbert_classifier/   DistilBertForSequenceClassification, 2 labels, id2label
                           {0: spam, 1: ham} (not alphabetical), DistilBertTokenizerFast, cased
  bpe_tokenizer/           (bad input) model_type bert (BertForMaskedLM, 1 layer) whose
                           tokenizer.json model is a byte-level BPE of 300 tokens trained here
                           on 100 of the sentences, with BERT's special tokens
  roberta/                 (bad input) RobertaModel (1 layer), model_type roberta, with a
                           byte-level BPE tokenizer (RoBERTa's special tokens)
  classifier_bad_id2label/ (bad input) bert_classifier with config.json's id2label/label2id cut
                           to 2 entries; classifier.weight still has 3 rows

expected.npz, in st_minilm, distilbert_mlm, bert_classifier and distilbert_classifier:
  token_lengths (N,) int32, token_ids (sum of lengths,) int32: the tokenizer's `input_ids`
      (with [CLS]/[SEP]) for every sentence of sentences.txt, truncation=True, max_length 128,
      concatenated (split with np.split(token_ids, np.cumsum(token_lengths)[:-1]))
  hidden_index (64,) int64: the sentences the next three are for (the first 64)
  hidden_input_ids, hidden_attention_mask (64, 16) int32: those sentences tokenized with
      truncation to HIDDEN_LENGTH = 16 tokens ([SEP] kept last), padded to 16 with [PAD]
  hidden (64, 16, 64) float32: the base model's last_hidden_state for that batch (token type
      ids 0); padded positions are the model's output there too: compare where the mask is 1
st_minilm adds mean_pooled (64, 64) float32 (sentence-transformers' mean over the mask) and
embeddings (64, 64) float32 (mean_pooled L2-normalized, what the Normalize module gives);
st_subfolder/expected.npz has hidden_index, hidden_input_ids, hidden_attention_mask and
cls_pooled (64, 64) float32 (the [CLS] row of last_hidden_state).
distilbert_mlm adds mlm_positions (64,) int64 (one position per sentence of that batch: the
middle real one, (real length - 1) // 2, so [CLS] for the empty sentence) and mlm_logits
(64, 2925) float32 (the MLM logits there, full vocabulary).
Sizes: 16 tokens and one MLM position per sentence keep tests/data/hf_checkpoints under 10 MB
in float32 (float16 would not do for parity at 1e-4); the classifiers' probs cover up to 128
tokens.
The classifiers add clf_index (200,) int64 (the first 200 sentences), label_names (num_labels,)
str in id order, probs (200, num_labels) float32: `pipeline("text-classification", top_k=None,
truncation=True)` scores put back in id order (not the pipeline's score order), and logits
(200, num_labels) float32: the model's logits, one sentence at a time, truncated to 128.
"""

import json
import os
import random
import re
import shutil
import sys

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel,
                          BertTokenizerFast, DistilBertConfig, DistilBertForMaskedLM,
                          DistilBertForSequenceClassification, DistilBertTokenizerFast,
                          PreTrainedTokenizerFast, RobertaConfig, RobertaModel, pipeline)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_bert_parity import CRAFTED  # noqa: E402

OUT = os.environ.get("HF_CHECKPOINTS_OUT", "tests/data/hf_checkpoints")
VOCAB = "tests/data/bert_parity/checkpoint/vocab.txt"
SEED = 11
SENTENCES = 2000
MAX_LEN = 128
HIDDEN_SENTENCES = 64
HIDDEN_LENGTH = 16
CLF_SENTENCES = 200
SIZE = dict(hidden=64, layers=2, heads=2, intermediate=128)
# What str.splitlines() splits at: none of these may be in a sentence.
LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def sentences():
    reviews = []
    with open("data/sentiment/rotten_tomatoes.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            reviews.append(line.rstrip("\n").split("\t", 1)[1])
    corpus = []
    for name in sorted(os.listdir("data/corpus")):
        if name.endswith(".txt"):
            with open(os.path.join("data/corpus", name), encoding="utf-8") as f:
                for line in f:
                    corpus += [s for s in re.split(r"(?<=[.!?])\s+", line.strip()) if s]
    rng = random.Random(SEED)
    real = (rng.sample(reviews, (SENTENCES - len(CRAFTED)) // 2)
            + rng.sample(corpus, SENTENCES - len(CRAFTED) - (SENTENCES - len(CRAFTED)) // 2))
    rng.shuffle(real)
    out = [LINE_BREAKS.sub(" ", s) for s in CRAFTED + real]
    assert len(out) == SENTENCES and not any(LINE_BREAKS.search(s) for s in out)
    return out


def perturb(model, seed):
    """Noise on the parameters transformers initialises to constants (biases 0, norms 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model.eval()


def save(model, tokenizer, path):
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    for extra in ("vocab.txt", "special_tokens_map.json"):
        if os.path.exists(os.path.join(path, extra)):
            os.remove(os.path.join(path, extra))


def bert_config(**kw):
    return BertConfig(vocab_size=2925, hidden_size=SIZE["hidden"],
                      num_hidden_layers=SIZE["layers"], num_attention_heads=SIZE["heads"],
                      intermediate_size=SIZE["intermediate"], max_position_embeddings=MAX_LEN,
                      initializer_range=0.2, pad_token_id=0, **kw)


def distil_config(**kw):
    return DistilBertConfig(vocab_size=2925, dim=SIZE["hidden"], n_layers=SIZE["layers"],
                            n_heads=SIZE["heads"], hidden_dim=SIZE["intermediate"],
                            max_position_embeddings=MAX_LEN, initializer_range=0.2,
                            pad_token_id=0, **kw)


def token_ids(tokenizer, texts):
    rows = tokenizer(texts, truncation=True, max_length=MAX_LEN)["input_ids"]
    return dict(token_lengths=np.array([len(r) for r in rows], np.int32),
                token_ids=np.concatenate([np.array(r, np.int32) for r in rows]))


def hidden_batch(tokenizer, texts):
    return tokenizer(texts[:HIDDEN_SENTENCES], truncation=True, max_length=HIDDEN_LENGTH,
                     padding="max_length", return_tensors="pt", return_token_type_ids=False)


def hidden_arrays(batch, hidden):
    return dict(hidden_index=np.arange(HIDDEN_SENTENCES, dtype=np.int64),
                hidden_input_ids=batch["input_ids"].numpy().astype(np.int32),
                hidden_attention_mask=batch["attention_mask"].numpy().astype(np.int32),
                hidden=hidden.numpy().astype(np.float32))


def classifier_arrays(model, tokenizer, texts):
    texts = texts[:CLF_SENTENCES]
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    clf = pipeline("text-classification", model=model, tokenizer=tokenizer, top_k=None,
                   device="cpu")
    probs = np.zeros((len(texts), len(names)), np.float32)
    for row, scores in enumerate(clf(texts, truncation=True)):
        for s in scores:
            probs[row, model.config.label2id[s["label"]]] = s["score"]
    logits = []
    with torch.no_grad():
        for t in texts:
            enc = tokenizer(t, truncation=True, max_length=MAX_LEN, return_tensors="pt")
            logits.append(model(**enc).logits[0].numpy())
    probs_from_logits = torch.softmax(torch.tensor(np.array(logits)), -1).numpy()
    assert np.abs(probs_from_logits - probs).max() < 1e-5, "pipeline and logits disagree"
    return dict(clf_index=np.arange(CLF_SENTENCES, dtype=np.int64), label_names=np.array(names),
                probs=probs, logits=np.array(logits, np.float32))


def sentence_transformer(model, tokenizer, texts):
    root = os.path.join(OUT, "st_minilm")
    save(model, tokenizer, root)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"},
    ]

    def pooling(mode):
        return {"word_embedding_dimension": SIZE["hidden"],
                "pooling_mode_cls_token": mode == "cls",
                "pooling_mode_mean_tokens": mode == "mean",
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
                "pooling_mode_weightedmean_tokens": False,
                "pooling_mode_lasttoken": False,
                "include_prompt": True}

    st_config = {"__version__": {"sentence_transformers": "5.1.0", "transformers": "5.23.0",
                                 "pytorch": torch.__version__.split("+")[0]},
                 "prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine"}
    bert_st = {"max_seq_length": 128, "do_lower_case": False}

    def write(path, obj):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")

    write(os.path.join(root, "modules.json"), modules)
    write(os.path.join(root, "1_Pooling", "config.json"), pooling("mean"))
    write(os.path.join(root, "sentence_bert_config.json"), bert_st)
    write(os.path.join(root, "config_sentence_transformers.json"), st_config)

    sub = os.path.join(OUT, "st_subfolder")
    save(model, tokenizer, os.path.join(sub, "0_Transformer"))
    write(os.path.join(sub, "0_Transformer", "sentence_bert_config.json"), bert_st)
    write(os.path.join(sub, "modules.json"),
          [dict(modules[0], path="0_Transformer"), modules[1]])
    write(os.path.join(sub, "1_Pooling", "config.json"), pooling("cls"))
    write(os.path.join(sub, "config_sentence_transformers.json"), st_config)

    batch = hidden_batch(tokenizer, texts)
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    arrays = hidden_arrays(batch, hidden)
    np.savez_compressed(os.path.join(root, "expected.npz"), **token_ids(tokenizer, texts),
                        **arrays, mean_pooled=mean.numpy(),
                        embeddings=torch.nn.functional.normalize(mean, dim=-1).numpy())
    np.savez_compressed(os.path.join(sub, "expected.npz"),
                        **{k: v for k, v in arrays.items() if k != "hidden"},
                        cls_pooled=hidden[:, 0].numpy().astype(np.float32))


def bpe(texts, special, processor):
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=300, special_tokens=special, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processor(tok)
    return tok


def bad_inputs(texts):
    few = texts[24:124]
    # A BERT checkpoint with a byte-level BPE tokenizer.
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = bpe(few, special, lambda t: processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", t.token_to_id("[CLS]")), ("[SEP]", t.token_to_id("[SEP]"))]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=MAX_LEN)
    torch.manual_seed(SEED + 5)
    config = bert_config()
    config.vocab_size, config.num_hidden_layers = tok.get_vocab_size(), 1
    save(perturb(BertForMaskedLM(config), SEED + 5), fast, os.path.join(OUT, "bpe_tokenizer"))

    # A RoBERTa checkpoint.
    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = bpe(few, special, lambda t: processors.RobertaProcessing(
        ("</s>", t.token_to_id("</s>")), ("<s>", t.token_to_id("<s>")), add_prefix_space=False))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
                                   cls_token="<s>", sep_token="</s>", model_max_length=MAX_LEN)
    torch.manual_seed(SEED + 6)
    config = RobertaConfig(vocab_size=tok.get_vocab_size(), hidden_size=SIZE["hidden"],
                           num_hidden_layers=1, num_attention_heads=SIZE["heads"],
                           intermediate_size=SIZE["intermediate"],
                           max_position_embeddings=MAX_LEN + 2, initializer_range=0.2,
                           pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1)
    save(perturb(RobertaModel(config), SEED + 6), fast, os.path.join(OUT, "roberta"))

    # A classifier whose id2label does not match its classifier weight.
    src, dst = os.path.join(OUT, "bert_classifier"), os.path.join(OUT, "classifier_bad_id2label")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("expected.npz"))
    with open(os.path.join(dst, "config.json")) as f:
        config = json.load(f)
    config["id2label"] = {"0": "negative", "1": "positive"}
    config["label2id"] = {"negative": 0, "positive": 1}
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    if os.path.isdir(OUT):
        for name in os.listdir(OUT):
            if os.path.isdir(os.path.join(OUT, name)):
                shutil.rmtree(os.path.join(OUT, name))
    os.makedirs(OUT, exist_ok=True)
    texts = sentences()
    with open(os.path.join(OUT, "sentences.txt"), "w", encoding="utf-8") as f:
        for s in texts:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")

    uncased = BertTokenizerFast(vocab=VOCAB, do_lower_case=True, model_max_length=MAX_LEN)
    cased = BertTokenizerFast(vocab=VOCAB, do_lower_case=False, model_max_length=MAX_LEN)
    d_uncased = DistilBertTokenizerFast(vocab=VOCAB, do_lower_case=True, model_max_length=MAX_LEN)
    d_cased = DistilBertTokenizerFast(vocab=VOCAB, do_lower_case=False, model_max_length=MAX_LEN)
    for tok in (uncased, cased, d_uncased, d_cased):
        assert len(tok.get_vocab()) == 2925, "the tokenizer did not take the vocabulary"

    # a. sentence-transformers BertModel.
    torch.manual_seed(SEED + 1)
    sentence_transformer(perturb(BertModel(bert_config()), SEED + 1), uncased, texts)

    # b. DistilBertForMaskedLM.
    torch.manual_seed(SEED + 2)
    mlm = perturb(DistilBertForMaskedLM(distil_config()), SEED + 2)
    mlm.tie_weights()  # after the noise: the projector stays the word embeddings
    path = os.path.join(OUT, "distilbert_mlm")
    save(mlm, d_uncased, path)
    batch = hidden_batch(d_uncased, texts)
    with torch.no_grad():
        out = mlm(**batch, output_hidden_states=True)
    real = batch["attention_mask"].numpy().astype(bool)
    positions = ((real.sum(1) - 1) // 2).astype(np.int64)
    np.savez_compressed(
        os.path.join(path, "expected.npz"), **token_ids(d_uncased, texts),
        **hidden_arrays(batch, out.hidden_states[-1]), mlm_positions=positions,
        mlm_logits=out.logits.numpy()[np.arange(len(positions)), positions])

    # c, d. classifiers.
    for name, cls, config, tok, base, seed in [
            ("bert_classifier", BertForSequenceClassification,
             bert_config(num_labels=3, id2label={0: "negative", 1: "neutral", 2: "positive"},
                         label2id={"negative": 0, "neutral": 1, "positive": 2}),
             cased, "bert", SEED + 3),
            ("distilbert_classifier", DistilBertForSequenceClassification,
             distil_config(num_labels=2, id2label={0: "spam", 1: "ham"},
                           label2id={"spam": 0, "ham": 1}),
             d_cased, "distilbert", SEED + 4)]:
        torch.manual_seed(seed)
        model = perturb(cls(config), seed)
        # Random weights favour one class; centring the logits on the first sentences makes
        # the arg-max vary (so a wrong label order shows in the predicted labels too).
        with torch.no_grad():
            enc = tok(texts[:CLF_SENTENCES], truncation=True, max_length=MAX_LEN,
                      padding=True, return_tensors="pt", return_token_type_ids=False)
            model.classifier.bias -= model(**enc).logits.mean(0)
        path = os.path.join(OUT, name)
        save(model, tok, path)
        batch = hidden_batch(tok, texts)
        with torch.no_grad():
            hidden = getattr(model, base)(**batch).last_hidden_state
        np.savez_compressed(os.path.join(path, "expected.npz"), **token_ids(tok, texts),
                            **hidden_arrays(batch, hidden),
                            **classifier_arrays(model, tok, texts))

    bad_inputs(texts)

    total = 0
    for root, _, files in sorted(os.walk(OUT)):
        size = sum(os.path.getsize(os.path.join(root, f)) for f in files)
        total += size
        print(f"{root}: {size / 1e6:.2f} MB {sorted(files)}")
    print(f"total {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
