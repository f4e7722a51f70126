"""Which of the two changes closed the causal bench's gap (bench/causal_lm.py)? lmpipe's trainer
rerun on the bench run's own Tokenize output and Trainer settings (read from the run's ML
Metadata), with one change taken back, scored by the bench's scorer on the same eval blocks:

    .venv/bin/python bench/causal_lm_ablation.py old_shuffle   # GPT-2's init, 10,000-example buffer
    .venv/bin/python bench/causal_lm_ablation.py old_init      # keras-hub's init, whole-split shuffle

Needs a finished `bench/causal_lm.py` run in --work (runs/causal_bench). Writes
bench/causal_lm_ablation.json (one entry per mode, merged with what is there). ~30 min each on
2 CPU cores. SMOKE=1: 4 steps, to check the script.
"""

import argparse
import dataclasses
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "bench"))


def trainer_custom_config(run_dir):
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = os.path.join(run_dir, "metadata.sqlite")
    for execution in mlmd.MetadataStore(connection).get_executions():
        value = execution.custom_properties.get("custom_config")
        if value is not None and '"settings"' in value.string_value:
            return json.loads(value.string_value)
    raise SystemExit(f"{run_dir}: no Trainer execution in its ML Metadata")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["old_shuffle", "old_init"])
    parser.add_argument("--work", default=os.path.join(REPO, "runs", "causal_bench"))
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "causal_lm_ablation.json"))
    args = parser.parse_args()
    run_dir = os.path.join(args.work, "ours")
    cfg = trainer_custom_config(run_dir)

    import numpy as np

    from causal_lm import _latest, score
    from models.tokenizers import bpe
    from models.causal_lm import model as causal_lm, trainer as causal_lm_trainer
    from models.checkpoints import gpt2 as gpt2_checkpoint
    from models.causal_lm.checkpoint import load_causal_lm
    from models.core import inputs, training
    from models.causal_lm.settings import CausalLMSettings

    if args.mode == "old_shuffle":  # what every reader did before: a 10,000-example buffer
        inputs.uniform_shuffle = lambda ds, seed, **_: ds.shuffle(10_000, seed=seed)
    else:  # keras-hub's own draws
        causal_lm.init_like_gpt2 = lambda backbone, **_: None
    settings = CausalLMSettings.from_dict(cfg["settings"])
    out = os.path.join(args.work, "ablation_" + args.mode)
    smoke = bool(os.environ.get("SMOKE"))
    if smoke:
        settings = dataclasses.replace(settings, train_steps=4, checkpoint_every=2, eval_steps=2)
        out += "_smoke"
    tokenize = os.path.join(run_dir, "pipeline", "Tokenize")
    graph = _latest(os.path.join(tokenize, "transform_graph"))
    blocks = _latest(os.path.join(tokenize, "transformed_examples"))
    causal_lm_trainer.train_and_export(training.TrainerJob(
        settings=settings, custom_config=cfg, transform_output=None,
        vocab_file=os.path.join(graph, bpe.VOCAB_JSON), vocab=[],
        train_files=[os.path.join(blocks, "Split-train", "*")],
        eval_files=[os.path.join(blocks, "Split-eval", "*")], base_model=None,
        log_dir=os.path.join(out, "log"), serving_dir=os.path.join(out, "model", "serving"),
        backup_dir=None, chief=True))
    eval_blocks = np.load(os.path.join(args.work, "inputs", "eval_blocks.npy"))
    model = load_causal_lm(
        gpt2_checkpoint.inspect_gpt2(os.path.join(out, "model")), dropout=0.0)
    result = {"eval_loss": score(model, eval_blocks), "eval_blocks": int(len(eval_blocks)),
              "train_steps": settings.train_steps,
              "command": f"python bench/causal_lm_ablation.py {args.mode}"}
    print("ablation:", json.dumps(result), flush=True)
    if smoke:
        return
    report = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            report = json.load(f)
    report[args.mode] = result
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
