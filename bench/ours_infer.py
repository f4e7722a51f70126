"""Our exported classifier from raw strings (its `serving_default`, in-process, as TF Serving
runs the graph): p50/p99 latency at batch 1 and sequences/second at batch 32.

    .venv/bin/python bench/ours_infer.py --model-dir runs/demo/finetune/serving/classifier
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.infer_common import review_texts, summarize  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow intra- and inter-op threads (0: TF's default), as TF "
                             "Serving's --tensorflow_intra_op_parallelism/_inter_op_ set them")
    args = parser.parse_args()

    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    from serving import versions

    path = versions.resolve_version_dir(args.model_dir)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    texts = review_texts(args.calls + 32 * args.batches)

    def call(batch):
        return serve(text=tf.constant(batch))["label"].numpy()

    for text in texts[:20]:  # warm up
        call([text])
    call(texts[:32])
    latencies = []
    for text in texts[:args.calls]:
        start = time.perf_counter()
        call([text])
        latencies.append(time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(args.batches):
        call(texts[i * 32:(i + 1) * 32])
    seconds = time.perf_counter() - start
    print(json.dumps({"impl": "ours", "model": path, "threads": args.threads, **summarize(latencies),
                      "batch32_sequences_per_second": 32 * args.batches / seconds}))


if __name__ == "__main__":
    main()
