"""Hugging Face's hyper-parameter search (`Trainer.hyperparameter_search(backend="optuna")`) over
the fine-tuning of a BERT checkpoint directory, then one final model trained with the best trial's
values: the peer of lmpipe's tuner. Runs in .venv-peer (Python 3.11; torch, transformers,
accelerate and optuna as bench/peer-requirements.txt pins them):

    .venv-peer/bin/python bench/peer_tuning.py --checkpoint runs/checkpoints/all-MiniLM-L6-v2 \
        --train train.tsv --eval eval.tsv --test test.tsv --space space.yaml \
        --final-steps 1000 --seq-length 64 --seed 42 --threads 2

    # the "default settings" run: no search, the final model trained with these values
    .venv-peer/bin/python bench/peer_tuning.py --checkpoint runs/checkpoints/all-MiniLM-L6-v2 \
        --train train.tsv --eval eval.tsv --test test.tsv --final-steps 1000 \
        --final-values '{"learning_rate": 5e-5, "batch_size": 32, "warmup_ratio": 0.0,
                         "weight_decay": 0.01}'

--checkpoint is a Hugging Face model directory (config.json, model.safetensors, a tokenizer), e.g.
runs/checkpoints/all-MiniLM-L6-v2 (if absent: `.venv/bin/python -c "from all_minilm_l6_v2 import
extract_model; extract_model('runs/checkpoints')"`). --train/--eval/--test are TSV files as
bench/peer_finetune_checkpoint.py reads them (its read_tsv and class_names: a header naming
`label` and `text`; classes from --labels or the train split's labels, sorted).

The space (--space FILE, YAML, or JSON for a file ending .json), lmpipe's format:

    algorithm: random          # random: optuna's RandomSampler(seed); bayesian: TPESampler(seed);
                               # grid: GridSampler(the grid, seed); lmpipe's hyperband: not here
    max_trials: 6              # n_trials of the search
    trial_steps: 60            # optimizer steps of each trial
    objective: accuracy        # the only one: eval accuracy, maximized
    hyperparameters:
      learning_rate: {min: 1.0e-5, max: 2.0e-4, sampling: log}
      batch_size: {values: [16, 32]}
      warmup_ratio: {min: 0.0, max: 0.2}
      weight_decay: {values: [0.0, 0.01, 0.1]}

(lmpipe's optional `evaluations` is accepted and ignored: a trial is evaluated once, at its end.)
`values` becomes trial.suggest_categorical; `min`/`max` (optional `sampling: linear|log`, `step`)
trial.suggest_int where the TrainingArguments field is an integer (per_device_train_batch_size)
and trial.suggest_float otherwise. A grid search suggests every hyperparameter from its grid
(suggest_categorical): its values, or a range's min + i * step up to max, as lmpipe lists them.
`batch_size` sets TrainingArguments.per_device_train_batch_size; `warmup_ratio` sets
TrainingArguments.warmup_steps as a fraction in [0, 1) (transformers 5 has no warmup_ratio field:
a warmup_steps below 1 is a ratio, ceil(ratio * steps) warmup steps; the base value is the float
0.0, as the Trainer casts a trial's value to the type of the field's current value, and an int 0
would truncate a ratio to 0); any other name is the TrainingArguments field of that name. A
hyperparameter the space leaves out keeps the value of --learning-rate / --batch-size /
--warmup-ratio / --weight-decay.

The recipe, for each trial and for the final model: a Trainer with model_init =
AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels, id2label, label2id)
(the Trainer seeds with --seed before each model_init, so every trial and the final model start
from the same classification head), inputs truncated to --seq-length and padded per batch by
DataCollatorWithPadding, TrainingArguments(max_steps, the trial's values, lr_scheduler_type
linear, torch AdamW betas 0.9/0.999 eps 1e-6 (lmpipe's AdamW epsilon), weight decay except on
biases and LayerNorm weights, max_grad_norm 1.0, seed --seed, use_cpu, dataloader_num_workers 0,
no drop_last, eval_strategy "no", save_strategy "no", logging_strategy "no", report_to []), on
--threads torch threads. No evaluation during training: Hugging Face's optuna objective calls
trainer.evaluate() once after trainer.train(), and its eval_accuracy is the trial's objective
(direction maximize, pruner NopPruner: nothing is reported to optuna before the end anyway). The
sampler, pruner and an in-memory optuna storage reach optuna.create_study through
hyperparameter_search's **kwargs; the study is read back from the storage for the trial list.

Then the final model: a fresh from_pretrained trained with the best trial's values
(BestRun.hyperparameters; --final-values JSON instead skips the search; --final-batch-size
overrides the batch size) for --final-steps steps, then scored once on eval and once on test.

Output: one JSON line on stdout (progress, optuna's and transformers' messages go to stderr):
best_eval_accuracy (the best trial's objective), best_hyperparameters (lmpipe's names), trials (per
trial: number, values, objective, seconds = optuna's datetime_complete - datetime_start (model
loading, training and evaluation), train_seconds (the training loop alone), eval_loss, train_loss,
state), search_seconds (the wall time of the hyperparameter_search call), final_values,
final_eval_accuracy, test_accuracy (fractions in [0, 1]), final_train_seconds (the final model's
training loop), final_train_loss, wall_seconds (the whole script from its start), the counts, the
classes, the settings and the versions.
"""

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time

from peer_finetune_checkpoint import read_splits
from peer_training import start_torch

START = time.perf_counter()

ALGORITHMS = ("random", "bayesian", "grid")
SPACE_KEYS = {"algorithm", "max_trials", "trial_steps", "objective", "evaluations",
              "hyperparameters"}
SPEC_KEYS = {"values", "min", "max", "sampling", "step"}
# lmpipe's hyperparameter names that are not TrainingArguments fields of the same name.
RENAMED = {"batch_size": "per_device_train_batch_size", "warmup_ratio": "warmup_steps"}
# Fields the recipe or the script sets: not hyperparameters.
FIXED = {"max_steps", "num_train_epochs", "seed", "output_dir", "eval_strategy", "save_strategy",
         "logging_strategy", "report_to", "use_cpu", "per_device_eval_batch_size", "warmup_steps"}


def field_name(name):
    """The TrainingArguments field a hyperparameter of lmpipe's space sets."""
    return RENAMED.get(name, name)


def training_values(values):
    """lmpipe's names and values to TrainingArguments fields (warmup_ratio to warmup_steps)."""
    out = {}
    for name, value in values.items():
        if name == "warmup_ratio" and not 0 <= float(value) < 1:
            sys.exit(f"warmup_ratio {value}: must lie in [0, 1)")
        out[field_name(name)] = float(value) if name == "warmup_ratio" else value
    return out


def check_names(names, fields):
    for name in names:
        if name in FIXED or field_name(name) not in fields:
            sys.exit(f"hyperparameter {name!r}: not one the search can set (batch_size, "
                     f"warmup_ratio or a TrainingArguments field other than {sorted(FIXED)})")


def load_space(path, fields):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        space = json.loads(text)
    else:
        try:
            import yaml
        except ImportError:
            sys.exit(f"{path}: PyYAML is not installed in this environment; give the space as JSON")
        space = yaml.safe_load(text)
    if not isinstance(space, dict):
        sys.exit(f"{path}: not a mapping")
    unknown = sorted(set(space) - SPACE_KEYS)
    if unknown:
        sys.exit(f"{path}: unknown keys {unknown} (known: {sorted(SPACE_KEYS)})")
    space.setdefault("algorithm", "random")
    space.setdefault("objective", "accuracy")
    if space["algorithm"] not in ALGORITHMS:
        sys.exit(f"{path}: algorithm {space['algorithm']!r} is not one of {ALGORITHMS} "
                 "(lmpipe's hyperband has no counterpart here)")
    if "evaluations" in space:
        print(f"{path}: evaluations {space['evaluations']} ignored: each trial is evaluated "
              "once, after its last step", file=sys.stderr)
    if space["objective"] != "accuracy":
        sys.exit(f"{path}: objective {space['objective']!r}: only accuracy is supported")
    for key in ("max_trials", "trial_steps"):
        if not isinstance(space.get(key), int) or space[key] < 1:
            sys.exit(f"{path}: {key} must be a positive integer, not {space.get(key)!r}")
    hps = space.get("hyperparameters")
    if not isinstance(hps, dict) or not hps:
        sys.exit(f"{path}: hyperparameters must be a non-empty mapping")
    check_names(hps, fields)
    for name, spec in hps.items():
        if not isinstance(spec, dict) or set(spec) - SPEC_KEYS:
            sys.exit(f"{path}: {name}: a mapping of {sorted(SPEC_KEYS)}, not {spec!r}")
        if "values" in spec:
            if not isinstance(spec["values"], list) or not spec["values"] or len(spec) > 1:
                sys.exit(f"{path}: {name}: values must be a non-empty list, alone")
        elif "min" not in spec or "max" not in spec or not spec["min"] < spec["max"]:
            sys.exit(f"{path}: {name}: needs values, or min < max")
        elif is_integer(name, fields) and not all(
                isinstance(spec[k], int) for k in spec if k in ("min", "max", "step")):
            sys.exit(f"{path}: {name}: an integer setting: give integer min, max and step")
        elif spec.get("sampling", "linear") not in ("linear", "log"):
            sys.exit(f"{path}: {name}: sampling is linear or log, not {spec['sampling']!r}")
        if space["algorithm"] == "grid" and grid_values(spec, name, fields) is None:
            sys.exit(f"{path}: {name}: a grid search needs values, or a range with a step")
    return space


def is_integer(name, fields):
    """Whether the TrainingArguments field `name` sets takes integers (suggest_int)."""
    return fields[field_name(name)] is int and name != "warmup_ratio"


def grid_values(spec, name, fields):
    """Every value a grid search tries, as lmpipe's HyperParameter.grid() lists them: the
    values, or a range's min + i * step up to max (integers: step 1 if none); None: a
    continuous range."""
    if "values" in spec:
        return list(spec["values"])
    if is_integer(name, fields):
        return list(range(int(spec["min"]), int(spec["max"]) + 1, int(spec.get("step") or 1)))
    step = spec.get("step")
    if step:
        count = int(math.floor((spec["max"] - spec["min"]) / step + 1e-9)) + 1
        return [spec["min"] + i * step for i in range(count)]
    return None


def hp_space_function(space, fields):
    """The hp_space for Trainer.hyperparameter_search: optuna suggestions under lmpipe's names,
    returned as TrainingArguments fields (the Trainer sets them on its args before training).
    A grid search suggests every hyperparameter from its grid (suggest_categorical)."""
    grid = space["algorithm"] == "grid"

    def hp_space(trial):
        values = {}
        for name, spec in space["hyperparameters"].items():
            if grid or "values" in spec:
                choices = grid_values(spec, name, fields)
                values[name] = trial.suggest_categorical(name, choices)
                continue
            log = spec.get("sampling", "linear") == "log"
            if is_integer(name, fields):
                values[name] = trial.suggest_int(name, int(spec["min"]), int(spec["max"]),
                                                 step=int(spec.get("step", 1)), log=log)
            else:
                step = spec.get("step")
                values[name] = trial.suggest_float(name, float(spec["min"]), float(spec["max"]),
                                                   step=None if step is None else float(step),
                                                   log=log)
        print(f"trial {trial.number}: {values}", file=sys.stderr)
        return training_values(values)

    return hp_space


def make_sampler(space, fields, seed):
    import optuna

    if space["algorithm"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if space["algorithm"] == "bayesian":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.GridSampler(
        {name: grid_values(spec, name, fields) for name, spec in space["hyperparameters"].items()},
        seed=seed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="Hugging Face model directory")
    parser.add_argument("--labels", default="", help="class names in id order, comma-separated")
    for split in ("--train", "--eval", "--test"):
        parser.add_argument(split, required=True)
    parser.add_argument("--space", help="the search space, YAML or JSON (lmpipe's format)")
    parser.add_argument("--final-steps", type=int, required=True,
                        help="optimizer steps of the final model")
    parser.add_argument("--final-values", default="",
                        help="JSON object (or a file holding one) of hyperparameters under "
                             "lmpipe's names: skip the search, train the final model with these")
    parser.add_argument("--final-batch-size", type=int, default=None,
                        help="the final model's batch size instead of the best trial's")
    parser.add_argument("--seq-length", type=int, default=64)
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32,
                        help="where the space or --final-values does not set batch_size")
    parser.add_argument("--learning-rate", type=float, default=5e-5,
                        help="where the space or --final-values does not set learning_rate")
    parser.add_argument("--warmup-ratio", type=float, default=0.0,
                        help="where the space or --final-values does not set warmup_ratio")
    parser.add_argument("--weight-decay", type=float, default=0.01,
                        help="where the space or --final-values does not set weight_decay")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not args.space and not args.final_values:
        parser.error("give --space (a search) or --final-values (no search)")
    if not 0 <= args.warmup_ratio < 1:
        parser.error("--warmup-ratio must lie in [0, 1)")

    stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):  # the Trainer prints; stdout is the JSON line's
        result = run(args)
    print(json.dumps(result), file=stdout)


def run(args):
    import dataclasses

    import numpy as np
    import optuna
    import torch
    import transformers
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer,
                              DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments)

    # TrainingArguments' fields and the type of their values (the search's base values below).
    defaults = TrainingArguments(output_dir=tempfile.gettempdir(), use_cpu=True,
                                 warmup_steps=0.0, report_to=[])
    fields = {f.name: type(getattr(defaults, f.name, None))
              for f in dataclasses.fields(TrainingArguments)}
    space = load_space(args.space, fields) if args.space and not args.final_values else None
    final_values = None
    if args.final_values:
        text = args.final_values
        if os.path.isfile(text):
            with open(text, encoding="utf-8") as f:
                text = f.read()
        final_values = json.loads(text)
        if not isinstance(final_values, dict):
            sys.exit("--final-values: not a JSON object")
        check_names(final_values, fields)

    start_torch(args.threads, args.seed)

    splits, names, label2id = read_splits(args)

    tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)

    def encode(split):
        labels, texts = splits[split]
        enc = tokenizer(texts, truncation=True, max_length=args.seq_length)
        return [{**{k: v[i] for k, v in enc.items()}, "labels": label2id[labels[i]]}
                for i in range(len(texts))]

    data = {split: encode(split) for split in splits}
    collator = DataCollatorWithPadding(tokenizer)

    def model_init():
        return AutoModelForSequenceClassification.from_pretrained(
            args.checkpoint, num_labels=len(names), id2label=dict(enumerate(names)),
            label2id=label2id)

    def compute_metrics(prediction):
        logits = prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        return {"accuracy": float(np.mean(np.argmax(logits, -1) == prediction.label_ids))}

    class Recorder(TrainerCallback):
        """Each trainer.train(): its loop's seconds, its train loss and the eval after it."""

        def __init__(self):
            self.runs = []

        def on_train_begin(self, args, state, control, **kwargs):
            self.runs.append({"start": time.perf_counter()})

        def on_train_end(self, args, state, control, **kwargs):
            run = self.runs[-1]
            run["train_seconds"] = time.perf_counter() - run.pop("start")
            run["steps"] = state.global_step

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.runs and logs and "train_loss" in logs:
                self.runs[-1]["train_loss"] = logs["train_loss"]

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if self.runs and metrics and "eval_loss" in metrics and "eval" not in self.runs[-1]:
                self.runs[-1]["eval"] = dict(metrics)

    base = {"per_device_train_batch_size": args.batch_size, "learning_rate": args.learning_rate,
            "warmup_steps": float(args.warmup_ratio), "weight_decay": args.weight_decay}

    def training_arguments(output_dir, steps, values):
        return TrainingArguments(**{
            "output_dir": output_dir, "max_steps": steps,
            "per_device_eval_batch_size": args.eval_batch_size, **base,
            "lr_scheduler_type": "linear", "optim": "adamw_torch", "adam_beta1": 0.9,
            "adam_beta2": 0.999, "adam_epsilon": 1e-6, "max_grad_norm": 1.0,
            "eval_strategy": "no", "save_strategy": "no", "logging_strategy": "no",
            "report_to": [], "seed": args.seed, "use_cpu": True, "dataloader_num_workers": 0,
            "dataloader_drop_last": False, "disable_tqdm": True, **values})

    trials, best, search_seconds = [], None, None
    with tempfile.TemporaryDirectory(prefix="peer_tuning_") as output_dir:
        if space is not None:
            search_args = training_arguments(output_dir, space["trial_steps"], {})
            recorder = Recorder()
            trainer = Trainer(model_init=model_init, args=search_args, data_collator=collator,
                              train_dataset=data["train"], eval_dataset=data["eval"],
                              compute_metrics=compute_metrics, callbacks=[recorder])
            storage = optuna.storages.InMemoryStorage()
            print(f"search: {space['algorithm']}, {space['max_trials']} trials of "
                  f"{space['trial_steps']} steps", file=sys.stderr)
            search_start = time.perf_counter()
            best = trainer.hyperparameter_search(
                backend="optuna", hp_space=hp_space_function(space, fields),
                n_trials=space["max_trials"], direction="maximize",
                compute_objective=lambda metrics: metrics["eval_accuracy"],
                sampler=make_sampler(space, fields, args.seed),
                pruner=optuna.pruners.NopPruner(),
                storage=storage, study_name="peer_tuning")
            search_seconds = time.perf_counter() - search_start
            study = optuna.load_study(study_name="peer_tuning", storage=storage)
            done = [t for t in study.trials if t.state != optuna.trial.TrialState.RUNNING]
            if len(done) != len(recorder.runs):
                print(f"warning: {len(done)} optuna trials, {len(recorder.runs)} training runs",
                      file=sys.stderr)
            for t, run_record in zip(done, recorder.runs):
                trials.append({
                    "number": t.number, "values": t.params, "objective": t.value,
                    "seconds": t.duration.total_seconds() if t.duration else None,
                    "train_seconds": run_record.get("train_seconds"),
                    "steps": run_record.get("steps"),
                    "eval_loss": run_record.get("eval", {}).get("eval_loss"),
                    "train_loss": run_record.get("train_loss"), "state": t.state.name})
            del trainer
            final_values = dict(best.hyperparameters)
            print(f"best trial {best.run_id}: {best.objective} with {final_values} "
                  f"({search_seconds:.1f} s)", file=sys.stderr)

        if args.final_batch_size:
            final_values["batch_size"] = args.final_batch_size
        final_args = training_arguments(output_dir, args.final_steps,
                                        training_values(final_values))
        recorder = Recorder()
        trainer = Trainer(model_init=model_init, args=final_args, data_collator=collator,
                          train_dataset=data["train"], eval_dataset=data["eval"],
                          compute_metrics=compute_metrics, callbacks=[recorder])
        print(f"final model: {args.final_steps} steps with {final_values}", file=sys.stderr)
        output = trainer.train()
        eval_metrics = trainer.evaluate(eval_dataset=data["eval"])
        test_metrics = trainer.evaluate(eval_dataset=data["test"], metric_key_prefix="test")

    applied = {name: getattr(final_args, name) for name in
               ("per_device_train_batch_size", "learning_rate", "warmup_steps", "weight_decay")}
    return {
        "checkpoint": args.checkpoint,
        "best_eval_accuracy": best.objective if best is not None else None,
        "best_hyperparameters": dict(best.hyperparameters) if best is not None else None,
        "best_trial": int(best.run_id) if best is not None else None,
        "trials": trials,
        "search_seconds": search_seconds,
        "final_values": final_values,
        "final_eval_accuracy": eval_metrics["eval_accuracy"],
        "test_accuracy": test_metrics["test_accuracy"],
        "final_eval_loss": eval_metrics["eval_loss"], "test_loss": test_metrics["test_loss"],
        "final_train_seconds": recorder.runs[-1]["train_seconds"],
        "final_train_loss": output.training_loss,
        "final_steps_done": output.global_step,
        "wall_seconds": time.perf_counter() - START,
        "examples": {split: len(data[split]) for split in data}, "labels": names,
        "settings": {
            "space": space, "search": space is not None, "final_steps": args.final_steps,
            "final_batch_size": args.final_batch_size, "final_training_arguments": applied,
            "defaults": {"batch_size": args.batch_size, "learning_rate": args.learning_rate,
                         "warmup_ratio": args.warmup_ratio, "weight_decay": args.weight_decay},
            "seq_length": args.seq_length, "eval_batch_size": args.eval_batch_size,
            "seed": args.seed, "threads": args.threads, "max_grad_norm": 1.0,
            "optimizer": "torch.optim.AdamW (Trainer optim adamw_torch), betas 0.9/0.999, "
                         "eps 1e-6", "schedule": "linear with warmup (ceil(ratio * steps))",
            "pruner": "NopPruner", "device": "cpu"},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "optuna": optuna.__version__},
    }


if __name__ == "__main__":
    main()
