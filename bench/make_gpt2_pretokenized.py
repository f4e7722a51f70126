"""Writes tests/data/gpt2_parity/pretokenized.json: how Hugging Face's GPT-2 pre-tokenizer
(`tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)`, `<|endoftext|>` an added token)
cuts crafted texts and 2,000 random strings of whitespace of every kind, letters, digits,
contractions, punctuation, NUL, emoji, combining marks and `<|endoftext|>`. lmpipe's
`models.tokenizers.bpe.split_like_gpt2` must cut them alike (tests/models/causal_lm/test_parity.py).
Hugging Face side only, from the repository root, in a few seconds:

    .venv-peer/bin/python bench/make_gpt2_pretokenized.py
"""

import json
import random

from tokenizers import Tokenizer, models, pre_tokenizers

OUT = "tests/data/gpt2_parity/pretokenized.json"
EOT = "<|endoftext|>"
CRAFTED = [
    ".\n\nThe", "a \nb", "a\n\n\nb", "a\n\n\n\nb", "a   b", "a\t\tb", "a \t b", "end  ", "end\n\n",
    "x\u00a0y", "x\u2003y", "x\u3000y", "x\x0by", "x\x85y", "x\u2028y", "a\r\nb", "  lead",
    "a <|endoftext|> b", "a<|endoftext|>b", EOT, "a  <|endoftext|>", "नमस्ते ६ और ६७",
    "It's we'll 'S", "1234567 12", "😀👍🏽👨‍👩‍👧", "x\u200by", "\n", " ", "  ", "a \u00a0b",
    "a\u00a0 b", "a \u3000 b", "Hi !", "Hi  !", "ÿ a ÿÿ", "a\x00b c", "tab\tend\t",
]
ATOMS = [" ", "  ", "\n", "\r", "\t", "\xa0", "\u2003", "\u3000", "\x0b", "\x85", "\u2028", "a",
         "B", "é", "1", "٣", "६", "'s", "'", "!", ".", "\x00", EOT, "中", "😀", "\u200d",
         "\u0301", "'ll", "ĴA", "\ufeff", "ÿ"]


def main():
    rng = random.Random(0)
    texts = CRAFTED + ["".join(rng.choice(ATOMS) for _ in range(rng.randint(1, 12)))
                       for _ in range(2000)]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.add_special_tokens([EOT])
    # Added tokens are cut out before the pre-tokenizer runs, as in GPT2TokenizerFast.
    pieces = []
    for text in texts:
        row = []
        for i, part in enumerate(text.split(EOT)):
            if i:
                row.append(EOT)
            row += [p for p, _ in tokenizer.pre_tokenizer.pre_tokenize_str(part)] if part else []
        pieces.append(row)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"texts": texts, "pieces": pieces}, f, ensure_ascii=True)
    print(f"wrote {OUT}: {len(texts)} texts")


if __name__ == "__main__":
    main()
