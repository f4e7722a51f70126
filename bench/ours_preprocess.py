"""Our preprocessing path, raw text to masked training examples, as the pipeline runs it: the
Tokenize (tf.Transform + tensorflow-text) and MlmMasker (Beam) components of a real
`lmpipe pretrain` run on DirectRunner with 2 worker processes (`--mode in_memory`: one). Their
wall times come from ML Metadata; `--ceiling` instead times tensorflow-text's FastWordpiece in
this process on the same documents (normalize, pre-tokenize, WordPiece: the most our path could
do on one core).

    .venv/bin/python bench/ours_preprocess.py --corpus ../shared/datasets/corpus
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from bench.preprocess_common import corpus_documents  # noqa: E402


def pipeline_steps(corpus, mode):
    run_dir = tempfile.mkdtemp(prefix="bench-preprocess-")
    lmpipe = os.path.join(os.path.dirname(sys.executable), "lmpipe")
    subprocess.run([lmpipe, "pretrain", "--corpus", corpus, "--run-dir", run_dir,
                    "--vocab-size", "8000", "--seq-length", "128", "--train-steps", "1",
                    "--checkpoint-every", "1", "--eval-steps", "1", "--min-masked-accuracy", "0",
                    "--dupe-factor", "1",
                    f"--beam-arg=--direct_running_mode={mode}",
                    f"--beam-arg=--direct_num_workers={2 if mode == 'multi_processing' else 1}"],
                   check=True, capture_output=True)
    import ml_metadata as mlmd
    from tfx import v1 as tfx

    store = mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.join(run_dir, "metadata.sqlite")))
    seconds = {}
    for execution in store.get_executions():
        name = store.get_execution_types_by_id([execution.type_id])[0].name.rsplit(".", 1)[-1]
        seconds[name] = (execution.last_update_time_since_epoch -
                         execution.create_time_since_epoch) / 1000
    return seconds, run_dir


def masking_alone(run_dir, seq_length=128):
    """MlmMasker's own per-document work (split windows, mask, serialize), in this process
    with no Beam, on the Tokenize output of `run_dir`: what the component costs beyond
    Beam's fixed costs."""
    import glob

    import tensorflow as tf

    from components.mlm_masker import executor

    vocab = glob.glob(os.path.join(run_dir, "pipeline", "WordPieceVocabGen", "vocabulary", "*"))[0]
    records = [r.numpy() for r in tf.data.TFRecordDataset(
        glob.glob(os.path.join(run_dir, "pipeline", "Tokenize", "transformed_examples", "*",
                               "Split-*", "*")), compression_type="GZIP")]
    vocab_size, special, _ = executor.read_vocabulary(vocab)
    do_fn = executor._MaskExampleDoFn(seq_length=seq_length, vocab_size=vocab_size,
                                      special=special, mask_rate=0.15, max_predictions=20,
                                      dupes=1, seed=42)
    do_fn.setup()
    start = time.perf_counter()
    outputs = sum(1 for i in range(0, len(records), 64) for _ in do_fn.process(records[i:i + 64]))
    return time.perf_counter() - start, outputs


def ceiling(documents, vocab_file):
    import tensorflow as tf

    from models.tokenizers import wordpiece as tokenization

    tokenizer = tokenization.load_tokenizer(vocab_file)
    tokenize = tf.function(lambda t: tokenizer.tokenize(t).flat_values)
    tokenize(tf.constant(documents[:64]))
    start = time.perf_counter()
    for i in range(0, len(documents), 256):
        tokenize(tf.constant(documents[i:i + 256]))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--ceiling", metavar="VOCAB_TXT", help="time raw FastWordpiece instead")
    parser.add_argument("--mode", choices=("multi_processing", "in_memory"),
                        default="multi_processing",
                        help="DirectRunner: 2 worker processes, or in this process (1 core)")
    args = parser.parse_args()
    documents, size = corpus_documents(args.corpus)
    vocab = None
    if args.ceiling:
        seconds, parts = ceiling(documents, args.ceiling), {}
        impl = "ceiling"
    else:
        import glob

        components, run_dir = pipeline_steps(args.corpus, args.mode)
        parts = {name: components[name] for name in ("Tokenize", "MlmMasker")}
        seconds, impl = sum(parts.values()), f"ours ({args.mode})"
        parts["other_components"] = {k: v for k, v in components.items() if k not in parts}
        parts["masking_alone_in_process"], _ = masking_alone(run_dir)
        vocab = glob.glob(os.path.join(run_dir, "pipeline", "WordPieceVocabGen", "vocabulary",
                                       "*", "vocab.txt"))[0]
    print(json.dumps({"impl": impl, "vocab": vocab, "documents": len(documents), "mb": size / 1e6,
                      "seconds": seconds, "parts": parts,
                      "documents_per_second": len(documents) / seconds,
                      "mb_per_second": size / 1e6 / seconds}))


if __name__ == "__main__":
    main()
