"""What every lmpipe job shares: run it (pre-flight checks, the local pipeline, its summary,
the exit code), and the checks and printed lines more than one job uses.

A job is a module with

    JOB                          the summary file's key ("pretrain", "finetune", ...)
    INPUT_ERRORS                 the exceptions its pre-flight raises for bad input
    preflight(cfg, given)        every check that can be made before any pipeline work; prints
                                 what it read; returns a plan (with the final config as `cfg`)
    build(plan)                  the `tfx.dsl.Pipeline`
    summarize(plan)              the summary dict, from ML Metadata (`pushed`, ...)
    print_summary(plan, summary, path)

(pipeline/jobs/pretrain.py, import_checkpoint.py, text_classification.py,
token_classification.py). pipeline/cli.py parses the flags and calls `run`.
"""

import os
import sys
import time
from typing import Callable, Iterable, Optional

from pipeline.config import ConfigError

EXIT_BAD_INPUT = 2
EXIT_PIPELINE_FAILED = 1


def run(job, make_config: Callable, given: Iterable[str] = (),
        summary_path: Optional[str] = None, dry_run: bool = False) -> int:
    """Runs `job` (a module as above) on `make_config()`; `given`: the config fields the user
    set (a job may choose a default only where the user did not). Returns the exit code:
    EXIT_BAD_INPUT when a check refuses (nothing was started), EXIT_PIPELINE_FAILED when the
    pipeline fails or its model is not blessed, 0 when a blessed model was pushed. `dry_run`
    (`--dry-run`): the pre-flight checks only; 0 when they pass, and nothing is started."""
    try:
        cfg = make_config()
        plan = job.preflight(cfg, frozenset(given))
    except job.INPUT_ERRORS as e:
        return fail(EXIT_BAD_INPUT, str(e))
    except (OSError, ValueError) as e:  # e.g. an unreadable schema file
        return fail(EXIT_BAD_INPUT, f"{type(e).__name__}: {e}")
    if dry_run:
        print(f"lmpipe: dry run: every pre-flight check passed; nothing was started (without "
              f"--dry-run this runs the {job.JOB} pipeline in {plan.cfg.run_dir}).")
        return 0
    return run_local(job.JOB, plan.cfg, summary_path, lambda: job.build(plan),
                     lambda: job.summarize(plan),
                     lambda summary, path: job.print_summary(plan, summary, path))


def root_cause(error: BaseException) -> BaseException:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return error


def fail(code: int, message: str) -> int:
    print(f"lmpipe: error: {message}", file=sys.stderr)
    print("lmpipe: nothing was pushed.", file=sys.stderr)
    return code


def run_local(job: str, cfg, summary_path: Optional[str], build_pipeline, summarize,
              print_summary) -> int:
    """Runs the pipeline, writes `{job: summary}` to the summary file (default
    RUN_DIR/summary.json), prints it, and returns the exit code: 0 only if a blessed model
    was pushed."""
    from pipeline import local_runner, run_summary

    started = time.time()
    for note in cfg.beam_notes:
        print(f"lmpipe: note: {note}")
    before = published_versions(cfg.serving_model_dir)
    try:
        local_runner.run_local(build_pipeline(), cfg.worker_timeout)
    except Exception as e:  # noqa: BLE001  (report the cause, exit non-zero)
        cause = root_cause(e)
        message = f"the {job} pipeline failed: {type(cause).__name__}: {cause}"
        published = sorted(published_versions(cfg.serving_model_dir) - before)
        if not published:
            return fail(EXIT_PIPELINE_FAILED, message)
        print(f"lmpipe: error: {message}", file=sys.stderr)
        print(f"lmpipe: the model WAS pushed to {', '.join(published)} before the failure.",
              file=sys.stderr)
        return EXIT_PIPELINE_FAILED
    summary_path = summary_path or os.path.join(cfg.run_dir, "summary.json")
    try:
        summary = summarize()
        summary["wall_seconds"] = round(time.time() - started, 1)
        plot_beside_summary(summary, summary_path)
        run_summary.write_summary(summary_path, job, summary)
        print_summary(summary, summary_path)
        sys.stdout.flush()
    except Exception as e:  # noqa: BLE001  (the pipeline ran: say what it pushed)
        import traceback

        traceback.print_exc()
        pushed = run_summary.pushed_model(cfg)
        print(f"lmpipe: error: the {job} pipeline finished, but its summary failed: "
              f"{type(e).__name__}: {e}", file=sys.stderr)
        print(f"lmpipe: {'the model WAS pushed to ' + pushed if pushed else 'nothing was pushed'}"
              f"; the run's artefacts and ML Metadata are in {cfg.run_dir}.", file=sys.stderr)
        return EXIT_PIPELINE_FAILED
    return report_blessing(summary)


def plot_beside_summary(summary: dict, summary_path: str) -> None:
    """A search's plot (the Tuner's `trials.png`) copied beside the summary file, where the
    summary then points (`tuning.plot`; the Tuner's own copy stays in `tuning.tuner_results`)."""
    import shutil

    plot = (summary.get("tuning") or {}).get("plot")
    if plot and os.path.isfile(plot):
        beside = os.path.join(os.path.dirname(os.path.abspath(summary_path)), "trials.png")
        shutil.copyfile(plot, beside)
        summary["tuning"]["plot"] = beside


def published_versions(model_dir: str) -> set:
    """Every `<model_dir>/<version>` directory TF Serving would serve (`model_dir`: a config's
    `serving_model_dir`), so that a failure after a push can say what was published."""
    if not model_dir or not os.path.isdir(model_dir):
        return set()
    return {os.path.abspath(os.path.join(model_dir, version)) for version in os.listdir(model_dir)
            if version.isdigit() and os.path.isdir(os.path.join(model_dir, version))}


def report_blessing(summary: dict) -> int:
    if summary["pushed"]:
        return 0
    reasons = ("; ".join(summary.get("not_blessed_because", []))
               or "see the Evaluator's validations")
    print(f"lmpipe: the model was not blessed: {reasons}. Nothing was pushed; earlier pushed "
          "versions are untouched.", file=sys.stderr)
    return EXIT_PIPELINE_FAILED


# -- checks more than one job makes -------------------------------------------------------------

def check_checkpoint(path: str, flag: str, seq_length: int):
    """The checkpoint's format and files, before any pipeline work (an lmpipe run directory:
    its latest blessed model); raises ConfigError (what models/checkpoints/ refuses, or a
    --seq-length longer than its positions). Prints its warnings (what was assumed or looks
    wrong) to stderr."""
    from models import checkpoints
    from models.checkpoints import gpt2 as gpt2_checkpoint
    from pipeline import resolve_pretrained

    try:
        if os.path.isfile(os.path.join(path, "metadata.sqlite")):
            path = resolve_pretrained.resolve(path).model_uri
        if gpt2_checkpoint.is_gpt2(path):
            raise checkpoints.CheckpointError(
                "a GPT-2 (causal LM) checkpoint, but this job needs a BERT-style encoder: "
                "continue pretraining it with `lmpipe pretrain --objective causal --init-from "
                f"{path}`, or serve it for generation with `lmpipe import --checkpoint {path}`")
        ckpt = checkpoints.inspect(path)
    except (checkpoints.CheckpointError, resolve_pretrained.PretrainedError) as e:
        raise ConfigError(f"{flag} {path}: {e}") from None
    if seq_length > ckpt.max_sequence_length:
        raise ConfigError(f"--seq-length {seq_length} is longer than {flag} {path} can read "
                          f"({ckpt.max_sequence_length} positions); use --seq-length "
                          f"{ckpt.max_sequence_length} or less.")
    for warning in ckpt.warnings:
        print(f"lmpipe: warning: {warning}", file=sys.stderr)
    return ckpt


def check_distribution(cfg) -> None:
    """Strategy, TF_CONFIG and batch size checks that can be made before any work starts.
    Also splits the CPU for `mirrored` with `cpu_replicas`, while TensorFlow is still fresh."""
    from models.core import distribute

    try:
        distribute.configure_devices(cfg.strategy, cfg.cpu_replicas)
        replicas = distribute.expected_replicas(cfg.strategy, cfg.cpu_replicas)
        if replicas:
            distribute.batch_plan(cfg.batch_size, cfg.grad_accum_steps, replicas,
                                  cfg.learning_rate, cfg.base_batch_size, cfg.lr_scaling)
    except distribute.DistributeError as e:
        raise ConfigError(str(e)) from None


def check_tuning(cfg, given=frozenset()) -> dict:
    """`--tune SPACE` / `--hyperparameters-from`: the space (read and checked with the config)
    or the earlier search's settings, and no flag given both on the command line and by them
    (a flag given outside the space stays fixed for every trial). Prints what will be searched
    or reused; returns it for the summary ({} without either). Raises ConfigError."""
    from pipeline import tfx_pipeline

    flags = lambda names: ", ".join("--" + n.replace("_", "-") for n in names)  # noqa: E731
    if cfg.tune:
        space = cfg.search_space()
        clash = sorted(set(space.names) & set(given))
        if clash:
            raise ConfigError(f"{flags(clash)}: given on the command line and searched by "
                              f"--tune {cfg.tune}; drop the flag (it would be overridden) or "
                              "take the setting out of the space (it then stays fixed)")
        rounds = (f"hyperband: 1 to {space.rounds()} rounds of " if space.algorithm == "hyperband"
                  else f"{space.rounds()} evaluations, each after ")
        print(f"lmpipe: search: {space.algorithm}, up to {space.max_trials} trials of up to "
              f"{space.trial_steps} steps ({rounds}{space.steps_per_round()} steps), "
              f"{cfg.tuner_workers} at a time; objective: eval {space.objective} "
              f"({'higher' if space.direction == 'max' else 'lower'} is better)")
        for param in space.hyperparameters:
            print(f"lmpipe: search: {param.name}: {param.describe()}")
        print(f"lmpipe: search: then the final model trains with the best settings for "
              f"{cfg.train_steps} steps (--train-steps), gated and pushed as any run.")
        return {"tune": cfg.tune, "searched": space.names, "algorithm": space.algorithm}
    if cfg.hyperparameters_from:
        path, values = tfx_pipeline.resolve_hyperparameters(cfg)
        clash = sorted(set(values) & set(given))
        if clash:
            raise ConfigError(f"{flags(clash)}: given on the command line and by "
                              f"--hyperparameters-from {path}; drop one")
        print(f"lmpipe: hyper-parameters from {path} (no search): "
              + ", ".join(f"{k} {v}" for k, v in values.items()))
        return {"hyperparameters_from": path, "hyperparameters": values}
    return {}


def tuning_lines(summary: dict) -> list:
    """The printed summary's lines on a search: every trial (its settings, objective, steps run
    of its budget, seconds, how it ended; the best marked *), where the plot and the
    TensorBoard logs are; or where reused settings came from."""
    from components.tuner.results import table_lines

    tuning = summary.get("tuning")
    if not tuning:
        return []
    if "hyperparameters_from" in tuning:
        return [f"hyper-parameters  {', '.join(f'{k} {v}' for k, v in tuning['hyperparameters'].items())}"
                f" (from {tuning['hyperparameters_from']}; no search)"]
    search = tuning["search"]
    lines = [f"search            {search['algorithm']}, {search['trials']} trials "
             f"({search['stopped_early']} stopped early), {search['workers']} at a time, "
             f"{search['search_seconds']:.0f} s"
             + (" (cached: the same data and space were searched before)"
                if tuning.get("cached") else ""),
             *table_lines(tuning["trials"], search),
             f"best settings     {', '.join(f'{k} {v}' for k, v in search['best_hyperparameters'].items())}"
             f" (eval {search['objective']} {number(search['best_objective'])}); the final "
             "model trained with them",
             f"trials plot       {tuning['plot']}",
             f"trials logs       tensorboard --logdir {tuning['tensorboard']} (HPARAMS tab)"]
    return lines


# -- printed lines ------------------------------------------------------------------------------

def count(n: int, noun: str) -> str:
    """A count and its noun, in the plural unless it is 1.

    >>> count(1, "file"), count(1200, "row")
    ('1 file', '1,200 rows')
    """
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def number(value: Optional[float], digits: int = 4) -> str:
    """A metric for the printed summary; "n/a" for one that was not computed (None, NaN).

    >>> number(0.81234), number(None), number(float("nan"), 1)
    ('0.8123', 'n/a', 'n/a')
    """
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}f}"


def print_skipped(skipped) -> None:
    if skipped:
        print(f"lmpipe: skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} (not "
              "read): " + "; ".join(skipped[:10]) + (f"; ... {len(skipped) - 10} more"
                                                      if len(skipped) > 10 else ""))


def heading_lines(title: str, summary: dict) -> list:
    """The first lines of every job's printed summary: its title (the command) and where the
    pipeline's artifacts are."""
    return ["", f"== {title}: summary ==", f"pipeline root     {summary['pipeline_root']}"]


def input_lines(summary: dict, unit: str) -> list:
    """The summary's lines on what was read: the pre-flight count and each split's examples
    (components/split_counts.py), with a warning when they disagree."""
    given, splits = summary.get("input", {}), summary.get("input_splits", {})
    if not given:
        return []
    total = given.get("documents", given.get("rows"))
    lines = [f"input             {count(given['files'], 'file')}, {count(total, unit)}, "
             f"{count(given['bytes'], 'byte')}"]
    if splits:
        lines.append("examples          " + ", ".join(
            f"{split} {counts['examples']:,} ({counts['bytes']:,} bytes)"
            for split, counts in sorted(splits.items())))
        read = sum(counts["examples"] for counts in splits.values())
        if read != total:
            lines.append(f"WARNING           the splits hold {read:,} examples, but the input "
                         f"check read {total:,} {unit}s: the input changed during the run?")
    return lines
