"""WordPiece vocabulary learning, before and after the switch to Hugging Face's trainer (issue 14),
run by hand:

    .venv/bin/python bench/vocab_quality.py --run runs/pq/ours-tiny > bench/vocab_quality.json

`--run` is an lmpipe pretraining run directory: its TextExampleGen train split is counted (the
same count_words the pipeline uses), both learners learn `--vocab-size` from those counts (timed,
one process, nothing else), and each vocabulary tokenizes the eval split: wordpieces per word and
[UNK] count. The "before" learner is tensorflow-text's (wordpiece_tokenizer_learner_lib, what
WordPieceVocabGen used), called the way the old learner.py did.
"""
import argparse
import collections
import glob
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def split_texts(run_dir, split):
    import tensorflow as tf

    examples = max(glob.glob(os.path.join(run_dir, "pipeline", "FileBasedExampleGen", "examples",
                                          "*")), key=lambda p: int(os.path.basename(p)))
    files = glob.glob(os.path.join(examples, f"Split-{split}", "*"))
    return [tf.train.Example.FromString(r.numpy()).features.feature["text"].bytes_list.value[0]
            .decode("utf-8") for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True)
    parser.add_argument("--vocab-size", type=int, default=8000)
    args = parser.parse_args()

    import tensorflow as tf
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as tf_text

    from components.vocab_gen import learner
    from models.tokenizers.wordpiece import Tokenizer, pretokenize

    train, evals = split_texts(args.run, "train"), split_texts(args.run, "eval")
    counts = collections.Counter()
    for i in range(0, len(train), 64):
        counts.update(learner.count_words(train[i:i + 64]))
    started = time.perf_counter()
    before = tf_text.learn(list(counts.items()), args.vocab_size, reserved_tokens=learner.RESERVED,
                           lower_thresh=2, include_joiner_token=True, joiner=learner.JOINER)
    before_seconds = time.perf_counter() - started
    started = time.perf_counter()
    after = learner.learn_vocab(counts.items(), args.vocab_size, lower_thresh=2)
    after_seconds = time.perf_counter() - started

    words = int(pretokenize(tf.constant(evals)).flat_values.shape[0])
    result = {"command": "bench/vocab_quality.py " + " ".join(sys.argv[1:]),
              "train_documents": len(train), "train_words": sum(counts.values()),
              "distinct_words": len(counts), "eval_documents": len(evals), "eval_words": words,
              "requested_vocab_size": args.vocab_size}
    for name, vocab, seconds in (("tensorflow_text_learner", before, before_seconds),
                                 ("hf_wordpiece_trainer", after, after_seconds)):
        ids = Tokenizer(vocab).tokenize(tf.constant(evals)).flat_values.numpy()
        result[name] = {"seconds": round(seconds, 2), "size": len(vocab),
                        "eval_pieces_per_word": round(len(ids) / words, 4),
                        "eval_unk": int((ids == vocab.index("[UNK]")).sum())}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
