"""Corpus to masked training examples at three corpus sizes, ours and Hugging Face's, stage by
stage: wall time, peak memory and the per-MB slope of each stage.

    make bench   (runs this after bench/run.py), or by hand:
    .venv/bin/python bench/preprocess_scaling.py --corpus ../shared/datasets/corpus

Corpora: the corpus (x1) and x5 and x10 of it, each copy's documents in an order of its own
(`random.Random(copy).shuffle`, copy 0 as it is), written under `--work`. The split hash
includes each document's file name, so copies of a document may fall in different splits:
this measures speed, not model quality.

Ours: `lmpipe pretrain`'s preprocessing (TextExampleGen; StatisticsGen + ExampleValidator
against schemas/corpus.pbtxt; WordPieceVocabGen; Tokenize; MlmMasker), on its default Beam
setting (DirectRunner in one process), vocabulary 8,000, sequence length 128, one masking per
window. Each stage runs in a fresh process with the stages before it taken from TFX's cache, so
its peak RSS is its own (plus the process' imports); its wall time is the component's execution
in ML Metadata. Peer: bench/peer_preprocess.py --train-vocab-size 8000 (BertWordPieceTokenizer
.train, batched tokenization, DataCollatorForLanguageModeling) in .venv-peer.

`--repeats N` runs each side N times per corpus, in turn; the tables hold each stage's median
seconds and the largest peak, the json also every run's total (single runs on this 2-core
machine vary by 10-20%).

Writes bench/preprocess_scaling.json and adds `vocab_learning_seconds`,
`preprocess_with_vocab_9mb` and `preprocess_with_vocab_90mb` to bench/results.json.
"""

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
from bench.preprocess_common import corpus_documents, corpus_files  # noqa: E402

OURS = os.path.join(REPO, ".venv", "bin", "python")
PEER = os.path.join(REPO, ".venv-peer", "bin", "python")
VOCAB_SIZE = 8000
# Stage name -> the pipeline components it adds (in pipeline order).
STAGES = {
    "ingest": ["FileBasedExampleGen"],  # TextExampleGen's id
    "statistics": ["StatisticsGen", "ImportSchemaGen", "ExampleValidator"],
    "vocabulary": ["WordPieceVocabGen"],
    "tokenize": ["Tokenize"],
    "mask": ["MlmMasker"],
}


NOTE = ("seconds of each stage (ML Metadata) / peak RSS of a process running only that stage "
        "(earlier ones cached); ours on DirectRunner in one process, HF (peer) in one process "
        "(its tokenizers use both cores); corpora: the corpus repeated, each copy's documents "
        "shuffled; slope: least-squares seconds per MB")


def make_corpus(source: str, copies: int, out_dir: str) -> str:
    """`copies` of the corpus in `out_dir`, each file's documents shuffled per copy."""
    if os.path.isdir(out_dir):
        return out_dir
    os.makedirs(out_dir + ".tmp", exist_ok=True)
    for path in corpus_files(source):
        with open(path, encoding="utf-8") as f:
            documents = [d.strip() for d in f.read().split("\n\n") if d.strip()]
        for copy in range(copies):
            shuffled = list(documents)
            if copy:
                random.Random(copy).shuffle(shuffled)
            name = f"{os.path.basename(path)}.{copy:02d}"
            with open(os.path.join(out_dir + ".tmp", name), "w", encoding="utf-8") as f:
                f.write("\n\n".join(shuffled) + "\n")
    os.rename(out_dir + ".tmp", out_dir)
    return out_dir


def run_stage(corpus: str, run_dir: str, stage: str, beam_args=None) -> dict:
    """In this process: the pretraining pipeline up to and including `stage` (earlier stages
    come from the cache); the seconds of each component that ran and this process' peak RSS."""
    import ml_metadata as mlmd
    from tfx import v1 as tfx

    from tfx.orchestration.pipeline import RunOptions

    from pipeline.jobs import pretrain
    from pipeline.config import PretrainConfig
    from pipeline.local_runner import skip_tfx_sdist_for_local_beam

    cfg = PretrainConfig(corpus_dir=corpus, run_dir=run_dir, vocab_size=VOCAB_SIZE,
                         seq_length=128, dupe_factor=1,
                         **({"beam_args": beam_args.split()} if beam_args else {}))
    full = pretrain.create_pipeline(cfg)
    skip_tfx_sdist_for_local_beam()  # as `lmpipe pretrain` does
    start = time.time()
    tfx.orchestration.LocalDagRunner().run(full, run_options=RunOptions(
        to_nodes=[STAGES[stage][-1]]))
    store = mlmd.MetadataStore(full.metadata_connection_config)
    seconds = {}
    for execution in store.get_executions():
        if execution.create_time_since_epoch / 1000 < start - 1:
            continue
        if execution.last_known_state != mlmd.proto.Execution.COMPLETE:
            continue  # cached
        name = store.get_execution_types_by_id([execution.type_id])[0].name.rsplit(".", 1)[-1]
        seconds[name] = (execution.last_update_time_since_epoch -
                         execution.create_time_since_epoch) / 1000
    return {"stage": stage, "component_seconds": seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "children_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def subprocess_json(command):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if out.returncode:
        raise SystemExit(f"{command} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def ours(corpus: str, run_dir: str, beam_args: str = "") -> dict:
    shutil.rmtree(run_dir, ignore_errors=True)
    stages = {}
    for stage in STAGES:
        result = subprocess_json([OURS, __file__, "--stage", stage, f"--beam-args={beam_args}",
                                  "--corpus", corpus, "--run-dir", run_dir])
        missing = set(STAGES[stage]) - set(result["component_seconds"])
        assert not missing, f"{missing} did not run (cached?) in {result}"
        stages[stage] = {"seconds": sum(result["component_seconds"].values()),
                         "peak_rss_mb": result["peak_rss_mb"],
                         "components": result["component_seconds"]}
        print(f"  ours {stage}: {stages[stage]['seconds']:.1f} s, "
              f"peak {stages[stage]['peak_rss_mb']:.0f} MB", flush=True)
    return stages


def median_stages(runs):
    """Per stage: the median seconds over the repeated runs, the largest peak RSS."""
    stages = runs[0]["stages"] if "stages" in runs[0] else runs[0]
    out = {}
    for stage in stages:
        values = [(run.get("stages", run))[stage] for run in runs]
        out[stage] = {"seconds": statistics.median(v["seconds"] for v in values)}
        if "peak_rss_mb" in values[0]:
            out[stage]["peak_rss_mb"] = max(v["peak_rss_mb"] for v in values)
    return out


def slope(points):
    """Least-squares seconds per MB over (mb, seconds) points (None for one point)."""
    n = len(points)
    if n < 2:
        return None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def table(rows):
    sizes = [r["mb"] for r in rows]
    lines = ["| stage | side | " + " | ".join(f"{mb:.1f} MB: s / peak MB" for mb in sizes)
             + " | s per MB (slope) |", "|---|---|" + "---|" * (len(sizes) + 1)]
    for side in ("ours", "peer"):
        for stage in [*STAGES, "total"] if side == "ours" else ["vocabulary", "tokenize", "mask",
                                                                "total"]:
            cells, points = [], []
            for r in rows:
                s = r[side]["stages"].get(stage) if stage != "total" else None
                if stage == "total":
                    seconds, peak = r[side]["seconds"], r[side]["peak_rss_mb"]
                else:
                    seconds, peak = s["seconds"], s.get("peak_rss_mb")
                points.append((r["mb"], seconds))
                cells.append(f"{seconds:.1f} / {peak:.0f}" if peak else f"{seconds:.1f} / -")
            per_mb = slope(points)
            lines.append(f"| {stage} | {side} | " + " | ".join(cells)
                         + (f" | {per_mb:.2f} |" if per_mb is not None else " | - |"))
    return lines


def update_results(rows, command):
    from bench.run import entry, write_markdown

    path = os.path.join(HERE, "results.json")
    with open(path) as f:
        report = json.load(f)
    small, large = rows[0], rows[-1]
    new = [
        entry("vocab_learning_seconds", small["ours"]["stages"]["vocabulary"]["seconds"],
              small["peer"]["stages"]["vocabulary"]["seconds"], "s", False, 0.5,
              f"{small['mb']:.1f} MB: WordPieceVocabGen (Beam word count + tokenizers' "
              "WordPiece trainer) vs BertWordPieceTokenizer.train, vocabulary 8000"),
    ]
    for row, name in ((small, "preprocess_with_vocab_9mb"), (large, "preprocess_with_vocab_90mb")):
        new.append(entry(name, row["documents"] / row["ours"]["seconds"],
                         row["documents"] / row["peer"]["seconds"], "documents/s", True,
                         0.5 if row is small else 1.0,
                         f"{row['documents']} documents, {row['mb']:.1f} MB, corpus to masked "
                         "examples, vocabulary included: ours = TextExampleGen + StatisticsGen + "
                         "ExampleValidator + WordPieceVocabGen + Tokenize + MlmMasker (DirectRunner"
                         ", one process); HF = BertWordPieceTokenizer.train + batched tokenization "
                         "+ DataCollatorForLanguageModeling"))
    for b in new:
        b["command"] = command
    names = {b["name"] for b in new}
    report["benchmarks"] = [b for b in report["benchmarks"] if b["name"] not in names] + new
    report["preprocess_scaling"] = {"command": command, "note": NOTE, "table": table(rows)}
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    write_markdown(report)


def main():
    parser = argparse.ArgumentParser()
    shared = os.path.join(os.path.dirname(REPO), "shared", "datasets", "corpus")
    parser.add_argument("--corpus", default=shared)
    parser.add_argument("--copies", default="1,5,10")
    parser.add_argument("--work", default=os.path.join(REPO, "runs", "bench-scaling"))
    parser.add_argument("--stage", choices=list(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    parser.add_argument("--beam-args", default="",
                        help="Beam options instead of lmpipe's default (one process), e.g. "
                             "'--direct_running_mode=multi_threading --direct_num_workers=2'")
    parser.add_argument("--no-peer", action="store_true", help="ours only (no tables written)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs of each side per corpus (in turn); each stage's median counts")
    args = parser.parse_args()
    if args.stage:  # one stage, in a process of its own (see `ours`)
        print(json.dumps(run_stage(args.corpus, args.run_dir, args.stage, args.beam_args)))
        return

    rows = []
    for copies in [int(c) for c in args.copies.split(",")]:
        corpus = make_corpus(args.corpus, copies, os.path.join(args.work, f"corpus-x{copies}"))
        documents, size = corpus_documents(corpus)
        print(f"x{copies}: {len(documents)} documents, {size / 1e6:.1f} MB", flush=True)
        ours_runs, peer_runs = [], []
        for _ in range(args.repeats):  # the two sides in turn, so that both see the same drift
            ours_runs.append(ours(corpus, os.path.join(args.work, f"run-x{copies}"),
                                  args.beam_args))
            if args.no_peer:
                print(json.dumps({"copies": copies, "mb": size / 1e6, "stages": ours_runs[-1]}))
                continue
            peer = subprocess_json([PEER, os.path.join(HERE, "peer_preprocess.py"), "--corpus",
                                    corpus, "--train-vocab-size", str(VOCAB_SIZE)])
            print(f"  peer: {peer['stage_seconds']}, peak {peer['peak_rss_mb']:.0f} MB",
                  flush=True)
            peer_runs.append({
                "stages": {k: {"seconds": v} for k, v in peer["stage_seconds"].items()},
                "peak_rss_mb": peer["peak_rss_mb"]})
        if args.no_peer:
            continue
        stages, peer_stages = median_stages(ours_runs), median_stages(peer_runs)
        rows.append({
            "copies": copies, "documents": len(documents), "mb": size / 1e6,
            "ours": {"stages": stages, "seconds": sum(s["seconds"] for s in stages.values()),
                     "peak_rss_mb": max(s["peak_rss_mb"] for s in stages.values()),
                     "run_totals": [round(sum(s["seconds"] for s in run.values()), 2)
                                    for run in ours_runs]},
            "peer": {"stages": peer_stages,
                     "seconds": sum(s["seconds"] for s in peer_stages.values()),
                     "peak_rss_mb": max(run["peak_rss_mb"] for run in peer_runs),
                     "run_totals": [round(sum(s["seconds"] for s in run["stages"].values()), 2)
                                    for run in peer_runs]}})
        with open(os.path.join(HERE, "preprocess_scaling.json"), "w") as f:
            json.dump({"command": " ".join(["bench/preprocess_scaling.py", *sys.argv[1:]]),
                       "corpora": "the corpus repeated, each copy's documents shuffled "
                                  "(random.Random(copy)), copy 0 as is",
                       "rows": rows}, f, indent=2)
    if args.no_peer:
        return
    assert not args.beam_args, "the committed table is lmpipe's default Beam setting"
    for line in table(rows):
        print(line)
    update_results(rows, " ".join(["bench/preprocess_scaling.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
