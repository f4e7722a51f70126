"""`lmpipe` command line.

    lmpipe pretrain --corpus data/corpus --run-dir runs/demo --train-steps 1000
    lmpipe import --checkpoint ~/bert-base-cased --serving-dir serving --model-name bert

Every PretrainConfig field is a flag (`--vocab-size`, `--seq-length`, `--model-size`, ...).
Bad input fails before any pipeline work starts, with a message that names the file or setting.
"""

import argparse
import dataclasses
import logging as py_logging
import os
import sys
import time
import typing
from typing import Optional

from pipeline.config import (ConfigError, FinetuneConfig, ImportConfig, PretrainConfig,
                             TokenClassificationConfig)

EXIT_BAD_INPUT = 2
EXIT_PIPELINE_FAILED = 1


def _add_config_flags(parser: argparse.ArgumentParser, config_cls, skip=()) -> None:
    for field in dataclasses.fields(config_cls):
        flag = "--" + field.name.replace("_", "-")
        if field.name in skip:
            continue
        if field.name == "corpus_dir":
            parser.add_argument("--corpus", dest="corpus_dir", required=True,
                                help="directory of UTF-8 text files; documents are separated "
                                     "by blank lines")
        elif field.name == "checkpoint":
            parser.add_argument("--checkpoint", required=True,
                                help="a Hugging Face BERT or DistilBERT checkpoint directory (or a "
                                     "sentence-transformers one), a keras-hub preset "
                                     "directory or an lmpipe model (a local directory)")
        elif field.name == "data":
            parser.add_argument("--data", dest="data", required=True,
                                help="a CSV, TSV or JSONL file of labelled text (with --task "
                                     "token-classification: a CoNLL, CoNLL-U-like or JSONL "
                                     "file of tagged sentences), or a directory of them "
                                     "(train.*, eval.*, test.* give the splits)")
        elif field.type is bool and field.default:
            parser.add_argument("--no-" + field.name.replace("_", "-"), dest=field.name,
                                action="store_const", const=False, default=None,
                                help=f"turn {field.name} off (default: on)")
        elif field.type is bool:
            parser.add_argument(flag, dest=field.name, action="store_const", const=True,
                                default=None, help=f"default: {field.default}")
        elif field.name == "split_buckets":
            parser.add_argument(flag, dest=field.name, default=None,
                                type=lambda text: tuple(int(x) for x in text.split(",")),
                                help="train,eval,test hash buckets (default: 8,1,1)")
        elif field.name == "labels":
            parser.add_argument("--labels", dest="labels", default=None,
                                type=lambda text: tuple(x.strip() for x in text.split(",")),
                                help="the class names in order, e.g. negative,neutral,positive "
                                     "(default: those of the train split, sorted; "
                                     "numerically when all are integers); with --task "
                                     "token-classification the entity types, e.g. LOC,ORG,PER")
        elif field.name == "beam_args":
            parser.add_argument("--beam-arg", dest="beam_args", action="append",
                                help="a Beam pipeline option, e.g. --beam-arg=--runner=DirectRunner "
                                     "(repeatable; replaces the defaults)")
        else:
            kind = typing.get_args(field.type)[0] if typing.get_origin(field.type) else field.type
            parser.add_argument(flag, dest=field.name, type=kind, default=None,
                                help=f"default: {field.default}")


def _config_from_args(args, config_cls):
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_cls)
              if getattr(args, f.name, None) is not None}
    return config_cls(**values)


def _root_cause(error: BaseException) -> BaseException:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return error


def _fail(code: int, message: str) -> int:
    print(f"lmpipe: error: {message}", file=sys.stderr)
    print("lmpipe: nothing was pushed.", file=sys.stderr)
    return code


def check_checkpoint(path: str, flag: str, seq_length: int):
    """The checkpoint's format and files, before any pipeline work (an lmpipe run directory:
    its latest blessed model); raises ConfigError (what models/checkpoint.py refuses, or a
    --seq-length longer than its positions). Prints its warnings (what was assumed or looks
    wrong) to stderr."""
    from models import checkpoint
    from pipeline import resolve_pretrained

    try:
        if os.path.isfile(os.path.join(path, "metadata.sqlite")):
            path = resolve_pretrained.resolve(path).model_uri
        ckpt = checkpoint.inspect(path)
    except (checkpoint.CheckpointError, resolve_pretrained.PretrainedError) as e:
        raise ConfigError(f"{flag} {path}: {e}") from None
    if seq_length > ckpt.max_sequence_length:
        raise ConfigError(f"--seq-length {seq_length} is longer than {flag} {path} can read "
                          f"({ckpt.max_sequence_length} positions); use --seq-length "
                          f"{ckpt.max_sequence_length} or less.")
    for warning in ckpt.warnings:
        print(f"lmpipe: warning: {warning}", file=sys.stderr)
    return ckpt


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _print_skipped(skipped) -> None:
    if skipped:
        print(f"lmpipe: skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} (not "
              "read): " + "; ".join(skipped[:10]) + (f"; ... {len(skipped) - 10} more"
                                                      if len(skipped) > 10 else ""))


def _report_corpus(report, corpus_dir: str) -> dict:
    """Prints what the corpus check read; returns it for the summary's `input` key."""
    info = report.to_json()
    nested = sum(os.path.dirname(os.path.relpath(f.path, corpus_dir)) != "" for f in report.files)
    print(f"lmpipe: corpus {corpus_dir}: {_count(info['files'], 'file')}"
          + (f" ({nested:,} in subdirectories)" if nested else "")
          + f", {_count(info['documents'], 'document')}, {_count(info['bytes'], 'byte')}")
    _print_skipped(report.skipped)
    return info


def _report_labelled(report, data: str) -> dict:
    """Prints what the labelled-data check read; returns it for the summary's `input` key."""
    info = report.to_json()
    per_file = ", ".join(f"{os.path.basename(f.path)} {_count(f.rows, 'row')}"
                         for f in report.files[:6])
    print(f"lmpipe: data {data}: {_count(info['files'], 'file')}, {_count(info['rows'], 'row')}, "
          f"{_count(info['bytes'], 'byte')}" + (f" ({per_file})" if len(report.files) > 1 else ""))
    for note in report.notes:
        print(f"lmpipe: note: {note}")
    _print_skipped(report.skipped)
    return info


def _input_lines(summary: dict, unit: str) -> list:
    """The summary's lines on what was read: the pre-flight count and each split's examples
    (components/split_counts.py), with a warning when they disagree."""
    given, splits = summary.get("input", {}), summary.get("input_splits", {})
    if not given:
        return []
    total = given.get("documents", given.get("rows"))
    lines = [f"input             {_count(given['files'], 'file')}, {_count(total, unit)}, "
             f"{_count(given['bytes'], 'byte')}"]
    if splits:
        lines.append("examples          " + ", ".join(
            f"{split} {counts['examples']:,} ({counts['bytes']:,} bytes)"
            for split, counts in sorted(splits.items())))
        read = sum(counts["examples"] for counts in splits.values())
        if read != total:
            lines.append(f"WARNING           the splits hold {read:,} examples, but the input "
                         f"check read {total:,} {unit}s: the input changed during the run?")
    return lines


def pretrain(args) -> int:
    from components.text_example_gen import CorpusError
    from components.text_example_gen.reader import inspect_corpus_dir

    try:
        cfg = _config_from_args(args, PretrainConfig)
        corpus = inspect_corpus_dir(cfg.corpus_dir)
        if cfg.init_from:
            start = check_checkpoint(cfg.init_from, "--init-from", cfg.seq_length)
            cfg = dataclasses.replace(cfg, init_from=start.path)
            print(f"lmpipe: continuing pretraining from the {start.format} checkpoint "
                  f"{start.path} (vocabulary of {start.vocab_size}, "
                  f"{'uncased' if start.tokenizer.lowercase else 'cased'}).")
        check_distribution(cfg)
    except (ConfigError, CorpusError) as e:
        return _fail(EXIT_BAD_INPUT, str(e))
    given = _report_corpus(corpus, cfg.corpus_dir)

    from pipeline import pretrain as pretrain_pipeline, run_summary

    return _run_local("pretrain", cfg, args, lambda: pretrain_pipeline.create_pipeline(cfg),
                      lambda: {"input": given, **run_summary.pretrain_summary(cfg)},
                      _print_summary)


def import_checkpoint(args) -> int:
    """`lmpipe import`: a checkpoint to a pushed fill-mask model and an encoder, no training."""
    try:
        cfg = _config_from_args(args, ImportConfig)
        ckpt = check_checkpoint(cfg.checkpoint, "--checkpoint", cfg.seq_length)
        cfg = dataclasses.replace(cfg, checkpoint=ckpt.path)
        if ckpt.classes and args.model_name is None:  # served under a classifier's name
            cfg = dataclasses.replace(cfg, model_name="classifier" if ckpt.task ==
                                      "text-classification" else "token_classifier")
    except ConfigError as e:
        return _fail(EXIT_BAD_INPUT, str(e))

    from pipeline import import_checkpoint as import_pipeline, run_summary

    def summarize():
        return {**run_summary.import_summary(cfg), "warnings": list(ckpt.warnings),
                "task": ckpt.task.replace("-", "_") if ckpt.classes else "masked_lm",
                "classes": list(ckpt.classes), "pooling": ckpt.pooling}

    def print_summary(summary, path):
        if ckpt.task == "token-classification":
            head = ("none: a fine-tuned token classifier, served as one (entities with "
                    f"character offsets from raw text): classes {', '.join(ckpt.classes)} "
                    "(config.json id2label), its classifier weights")
        elif ckpt.classes:
            head = ("none: a fine-tuned classifier, served as one: classes "
                    f"{', '.join(ckpt.classes)} (config.json id2label), its pooler and "
                    "classifier weights")
        else:
            head = ("from the checkpoint" if summary["pretrained_mlm_head"] else
                    "none in the checkpoint: a new, untrained one (fill-mask answers are random "
                    "until lmpipe pretrain --init-from trains it)")
        print("\n".join([
            "",
            "== lmpipe import: summary ==",
            f"checkpoint        {ckpt.path} ({ckpt.format})",
            f"vocabulary        {ckpt.vocab_size} tokens, "
            f"{'uncased' if ckpt.tokenizer.lowercase else 'cased'}",
            f"MLM head          {head}",
            f"model (encoder)   {summary['model']}",
            f"ML Metadata       {summary['metadata_path']}",
            f"pushed model      {summary['pushed_model']}",
            f"wall time         {summary['wall_seconds']} s",
            f"summary           {path}",
            *[f"warning           {warning}" for warning in ckpt.warnings],
        ]))

    return _run_local("import", cfg, args, lambda: import_pipeline.create_pipeline(cfg),
                      summarize, print_summary)


def check_distribution(cfg) -> None:
    """Strategy, TF_CONFIG and batch size checks that can be made before any work starts.
    Also splits the CPU for `mirrored` with `cpu_replicas`, while TensorFlow is still fresh."""
    from models import distribute

    try:
        distribute.configure_devices(cfg.strategy, cfg.cpu_replicas)
        replicas = distribute.expected_replicas(cfg.strategy, cfg.cpu_replicas)
        if replicas:
            distribute.batch_plan(cfg.batch_size, cfg.grad_accum_steps, replicas,
                                  cfg.learning_rate, cfg.base_batch_size, cfg.lr_scaling)
    except distribute.DistributeError as e:
        raise ConfigError(str(e)) from None


def _run_local(job: str, cfg, args, build_pipeline, summarize, print_summary) -> int:
    """Runs the pipeline, writes `{job: summary}` to the summary file, prints it, and returns
    the exit code: 0 only if a blessed model was pushed."""
    from pipeline import local_runner, run_summary

    started = time.time()
    before = _published_versions(cfg.serving_model_dir)
    try:
        local_runner.run_local(build_pipeline(), cfg.worker_timeout)
    except Exception as e:  # noqa: BLE001  (report the cause, exit non-zero)
        cause = _root_cause(e)
        message = f"the {job} pipeline failed: {type(cause).__name__}: {cause}"
        published = sorted(_published_versions(cfg.serving_model_dir) - before)
        if not published:
            return _fail(EXIT_PIPELINE_FAILED, message)
        print(f"lmpipe: error: {message}", file=sys.stderr)
        print(f"lmpipe: the model WAS pushed to {', '.join(published)} before the failure.",
              file=sys.stderr)
        return EXIT_PIPELINE_FAILED
    summary_path = args.summary or os.path.join(cfg.run_dir, "summary.json")
    try:
        summary = summarize()
        summary["wall_seconds"] = round(time.time() - started, 1)
        run_summary.write_summary(summary_path, job, summary)
        print_summary(summary, summary_path)
    except Exception as e:  # noqa: BLE001  (the pipeline ran: say what it pushed)
        import traceback

        traceback.print_exc()
        pushed = run_summary.pushed_model(cfg)
        print(f"lmpipe: error: the {job} pipeline finished, but its summary failed: "
              f"{type(e).__name__}: {e}", file=sys.stderr)
        print(f"lmpipe: {'the model WAS pushed to ' + pushed if pushed else 'nothing was pushed'}"
              f"; the run's artefacts and ML Metadata are in {cfg.run_dir}.", file=sys.stderr)
        return EXIT_PIPELINE_FAILED
    return _report_blessing(summary)


def _published_versions(model_dir: str) -> set:
    """Every `<model_dir>/<version>` directory TF Serving would serve (`model_dir`: a config's
    `serving_model_dir`), so that a failure after a push can say what was published."""
    if not model_dir or not os.path.isdir(model_dir):
        return set()
    return {os.path.abspath(os.path.join(model_dir, version)) for version in os.listdir(model_dir)
            if version.isdigit() and os.path.isdir(os.path.join(model_dir, version))}


def _report_blessing(summary: dict) -> int:
    if summary["pushed"]:
        return 0
    reasons = ("; ".join(summary.get("not_blessed_because", []))
               or "see the Evaluator's validations")
    print(f"lmpipe: the model was not blessed: {reasons}. Nothing was pushed; earlier pushed "
          "versions are untouched.", file=sys.stderr)
    return EXIT_PIPELINE_FAILED


def check_teacher(cfg, labels, pretrained) -> str:
    """The teacher's Model artifact directory; refuses one with other classes than the data,
    warns when the student is not smaller (at least 90% of the teacher's parameters)."""
    from components.teacher_scores.executor import TeacherError, check_teacher as classes_match
    from pipeline import resolve_pretrained as pretrained_lib

    teacher = pretrained_lib.resolve_teacher(cfg.distill_from)
    saved_model = pretrained_lib.teacher_saved_model(teacher)
    try:
        classes_match(saved_model, labels)
    except TeacherError as e:
        raise ConfigError(f"--distill-from: {e}") from None
    teacher_size = pretrained_lib.saved_model_parameters(saved_model)
    student_size = pretrained_lib.encoder_parameters(pretrained)
    print(f"lmpipe: teacher {saved_model} ({teacher_size / 1e6:.2f}M parameters)"
          + (f", student encoder {student_size / 1e6:.2f}M" if student_size else ""))
    if student_size and student_size >= 0.9 * teacher_size:
        print(f"lmpipe: warning: the student ({student_size / 1e6:.2f}M parameters) is not "
              f"smaller than its teacher ({teacher_size / 1e6:.2f}M): distillation is for "
              "training a smaller model (give --pretrained a smaller encoder)", file=sys.stderr)
    return teacher


TASKS = ("text-classification", "token-classification")


def _task_config(args):
    """The config class of `--task`; refuses a flag that belongs to the other task only."""
    config_cls = (TokenClassificationConfig if args.task == "token-classification"
                  else FinetuneConfig)
    mine = {f.name for f in dataclasses.fields(config_cls)}
    foreign = sorted(f.name for cls in (FinetuneConfig, TokenClassificationConfig)
                     for f in dataclasses.fields(cls)
                     if f.name not in mine and getattr(args, f.name, None) is not None)
    if foreign:
        raise ConfigError(f"{', '.join('--' + n.replace('_', '-') for n in foreign)}: not a "
                          f"setting of --task {args.task}")
    return _config_from_args(args, config_cls)


def finetune(args) -> int:
    """`lmpipe finetune`: dispatches to the task's job."""
    if args.task == "token-classification":
        return finetune_token_classifier(args)
    return finetune_text_classifier(args)


def finetune_token_classifier(args) -> int:
    """`lmpipe finetune --task token-classification`: pipeline/token_classification.py owns
    the checks, the pipeline and the summary; this runs them."""
    from components.tagged_example_gen import TaggedDataError
    from pipeline import resolve_pretrained as pretrained_lib, token_classification as job

    try:
        cfg = _task_config(args)
        plan = job.preflight(cfg, check_checkpoint)
        check_distribution(cfg)
    except (ConfigError, TaggedDataError, pretrained_lib.PretrainedError) as e:
        return _fail(EXIT_BAD_INPUT, str(e))
    except (OSError, ValueError) as e:
        return _fail(EXIT_BAD_INPUT, f"{type(e).__name__}: {e}")
    data = plan.data
    print(f"lmpipe: {data['sentences']:,} tagged sentences ({data['tokens']:,} tokens) in "
          f"{_count(data['files'], 'file')}; entities: "
          + "; ".join(f"{split} " + ", ".join(f"{t} {n}" for t, n in sorted(counts.items()))
                      for split, counts in data["entities"].items()))
    print(f"lmpipe: entity types {', '.join(job.entity_type_names(plan.classes))} (from "
          f"{plan.types_from}); the schema is {plan.schema_file}: later runs in {cfg.run_dir} "
          "validate against it.")
    return _run_local("token_classification", cfg, args,
                      lambda: job.create_pipeline(cfg, plan.classes, plan.pretrained,
                                                  plan.schema_file),
                      lambda: job.summarize(cfg, plan),
                      lambda summary, path: job.print_summary(cfg, summary, path))


def finetune_text_classifier(args) -> int:
    from components.labelled_example_gen import LabelledDataError
    from components.labelled_example_gen.reader import inspect_labelled_data
    from pipeline import finetune as finetune_pipeline, resolve_pretrained as pretrained_lib

    try:
        cfg = _task_config(args)
        schema_file, labels, labels_from = finetune_pipeline.choose_classes(cfg)
        pretrained = pretrained_lib.resolve(cfg.pretrained)
        pretrained_lib.check_vocabulary_matches(pretrained)
        pooling_from = "--pooling" if args.pooling else "lmpipe's default"
        start_classes = ()
        if pretrained.needs_import:
            start = check_checkpoint(pretrained.model_uri, "--pretrained", cfg.seq_length)
            start_classes = start.classes
            if start.pooling and not args.pooling:  # a sentence-transformers checkpoint's own
                cfg = dataclasses.replace(cfg, pooling=start.pooling)
                pooling_from = "the sentence-transformers checkpoint's Pooling module"
            elif start.classes and not args.pooling:  # a fine-tuned classifier reads its pooler
                cfg = dataclasses.replace(cfg, pooling="cls")
                pooling_from = "the fine-tuned classifier checkpoint (its pooler)"
        data = inspect_labelled_data(cfg.data, cfg.text_column, cfg.label_column, labels,
                                     labels_from=labels_from, pair_column=cfg.text_pair_column,
                                     tsv_quoting=cfg.tsv_quoting)
        counts = data.label_counts
        check_distribution(cfg)
        teacher = check_teacher(cfg, labels, pretrained) if cfg.distill_from else None
    except (ConfigError, LabelledDataError, pretrained_lib.PretrainedError) as e:
        return _fail(EXIT_BAD_INPUT, str(e))
    except (OSError, ValueError) as e:  # e.g. an unreadable schema file
        return _fail(EXIT_BAD_INPUT, f"{type(e).__name__}: {e}")
    given = _report_labelled(data, cfg.data)
    if pooling_from.startswith("the "):
        print(f"lmpipe: --pooling {cfg.pooling}, from {pooling_from} (give --pooling to choose).")
    head = "new"
    if start_classes:
        keeps = (list(start_classes) == list(labels) and cfg.pooling == "cls"
                 and not cfg.from_scratch)
        head = ("the checkpoint's (its id2label is the data's classes)" if keeps else
                f"new (the checkpoint's classifier has {', '.join(start_classes)}"
                + (", not the data's classes in this order" if list(start_classes) != list(labels)
                   else f"; --pooling {cfg.pooling} or --from-scratch" ) + ")")
        print(f"lmpipe: classifier head: {head}.")
    print(f"lmpipe: {sum(counts.values())} labelled examples: "
          + ", ".join(f"{label} {counts.get(label, 0)}" for label in labels))
    if schema_file == finetune_pipeline.run_schema_path(cfg):
        finetune_pipeline.write_run_schema(cfg, labels)
        print(f"lmpipe: classes {', '.join(labels)} (from {labels_from}); the schema is "
              f"{schema_file}: later runs in {cfg.run_dir} validate against it.")

    from pipeline import run_summary

    def print_summary(summary, path):
        metrics = summary["eval_metrics"]
        absent = summary.get("eval_absent_classes") or []
        test = summary.get("test_metrics")
        print("\n".join([
            "",
            "== lmpipe finetune: summary ==",
            f"pipeline root     {summary['pipeline_root']}",
            *_input_lines(summary, "row"),
            f"pretrained        {summary['pretrained_model']}"
            + (" (architecture only: --from-scratch)" if cfg.from_scratch else "")
            + (f", adapted to the train texts ({cfg.adapt_steps} MLM steps)"
               if cfg.adapt_steps else ""),
            f"classes           {', '.join(labels)}",
            f"pooling           {cfg.pooling} (from {pooling_from})",
            f"classifier head   {head}",
            "batching          " + ("length-aware (batches of similar lengths, each padded to "
                                     "its longest rounded up to 16)" if cfg.batching == "bucketed"
                                     else f"fixed (every example padded to {cfg.seq_length})"),
            f"eval accuracy     {_number(metrics.get('accuracy'))}",
            f"eval macro F1     {_number(_macro(metrics, 'f1_score'))}" if not absent else
            f"eval macro F1     {_number(summary['eval_class_metrics']['macro_f1'])} over the "
            f"{len(labels) - len(absent)} classes present",
            *([f"absent from eval  {', '.join(absent)}: no eval example, so no recall or F1 "
               "(null in the summary)"] if absent else []),
            *([f"test accuracy     {_number(test['accuracy'])}, macro F1 "
               f"{_number(test['macro_f1'])} ({test['example_count']} examples; reported, never "
               "used for blessing)"
               + (f"; absent from test: {', '.join(test['absent_classes'])}"
                  if test.get("absent_classes") else "")] if test else []),
            *_teacher_lines(summary, cfg),
            f"blessed           {summary['blessed']}",
            f"pushed model      {summary['pushed_model']}",
            f"wall time         {summary['wall_seconds']} s",
            f"summary           {path}",
        ]))

    return _run_local("finetune", cfg, args,
                      lambda: finetune_pipeline.create_pipeline(cfg, labels, pretrained,
                                                                schema_file, teacher),
                      lambda: {"input": given, "pooling_from": pooling_from,
                               "classifier_head": head,
                               **run_summary.finetune_summary(cfg, labels, pretrained)},
                      print_summary)


def _teacher_lines(summary: dict, cfg) -> list:
    teacher = summary.get("teacher")
    if not teacher:
        return []
    lines = [f"teacher           {teacher['model']} ({teacher['size_mb']:.1f} MB)",
             f"teacher eval acc. {_number(teacher.get('eval_metrics', {}).get('accuracy'))}"
             f" (the student may be at most {cfg.max_drop_vs_teacher:.4f} below)"]
    if "test_metrics" in teacher:
        lines.append(f"teacher test acc. {_number(teacher['test_metrics']['accuracy'])}")
    return lines


def _macro(metrics: dict, name: str) -> Optional[float]:
    """TFMA names macro-averaged metrics with a `macro_` prefix (None: not computed)."""
    for key, value in metrics.items():
        if key.startswith("macro_") and key.endswith(name) and "/" not in key:
            return value
    return None


def _number(value: Optional[float], digits: int = 4) -> str:
    """A metric for the printed summary; "n/a" for one that was not computed (None, NaN).

    >>> _number(0.81234), _number(None), _number(float("nan"), 1)
    ('0.8123', 'n/a', 'n/a')
    """
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}f}"


def _print_summary(summary: dict, path: str) -> None:
    metrics = summary["eval_metrics"]
    lines = [
        "",
        "== lmpipe pretrain: summary ==",
        f"pipeline root     {summary['pipeline_root']}",
        *_input_lines(summary, "document"),
        f"ML Metadata       {summary['metadata_path']}",
        f"vocabulary size   {summary['vocab_size']}",
        f"masked accuracy   {_number(metrics.get('masked_accuracy'))} "
        f"(always the most frequent token: {_number(summary['majority_token_accuracy'])})",
        f"perplexity        {_number(metrics.get('perplexity'), 1)}",
    ]
    if "start_eval_metrics" in summary:
        start = summary["start_eval_metrics"]
        lines += [
            f"starting point    {summary['init_from']}: masked accuracy "
            f"{_number(start.get('masked_accuracy'))}, perplexity "
            f"{_number(start.get('perplexity'), 1)} (blessed only if better)",
        ]
    lines += [
        f"blessed           {summary['blessed']}",
        f"pushed model      {summary['pushed_model']}",
        f"wall time         {summary['wall_seconds']} s",
        f"summary           {path}",
    ]
    print("\n".join(lines))


def compile_pipeline(args) -> int:
    """Writes the pretraining pipeline as a Kubeflow Pipelines v2 / Vertex AI PipelineJob."""
    try:
        cfg = _config_from_args(args, PretrainConfig)
        if cfg.init_from:
            raise ConfigError("--init-from reads a checkpoint on this machine's file system "
                              "(models/checkpoint.py), which a Kubeflow / Vertex pipeline cannot; "
                              "continue pretraining with lmpipe pretrain here.")
    except ConfigError as e:
        return _fail(EXIT_BAD_INPUT, str(e))
    from pipeline import kubeflow_v2_runner

    try:
        path = kubeflow_v2_runner.compile_pretraining(cfg, args.target, args.output, args.image)
    except kubeflow_v2_runner.CompileError as e:
        return _fail(EXIT_BAD_INPUT, str(e))
    print(f"lmpipe: wrote the {args.target} pipeline spec to {path}\n"
          f"lmpipe: image {args.image}; submit it as README.md 'Kubeflow and Vertex AI' shows.")
    return 0


def serve_config(args) -> int:
    """Writes TF Serving's models.config for every model under --serving-dir."""
    from serving import model_config, versions

    try:
        labels = dict(_label(text) for text in args.label or [])
        specific = [int(v) for v in args.versions.split(",")] if args.versions else []
        config = model_config.model_server_config(
            args.serving_dir, latest=args.latest, specific=specific, labels=labels,
            base_path=args.base_path, model_names=args.model or [])
    except (versions.ServingDirError, ValueError) as e:
        return _fail(EXIT_BAD_INPUT, str(e))
    text = model_config.to_text(config)
    with open(args.output, "w") as f:
        f.write(text)
    print(text, end="")
    print(f"lmpipe: wrote {args.output} ({len(config.model_config_list.config)} model(s)).")
    return 0


def _label(text: str):
    name, _, version = text.partition("=")
    if not name or not version.isdigit():
        raise ValueError(f"--label {text!r}: use NAME=VERSION, e.g. --label stable=1700000000")
    return name, int(version)


def predict(args) -> int:
    """Prints one JSON line per text: the text and the model's outputs."""
    import json

    from serving import predict as serving_predict, versions

    texts = list(args.texts)
    try:
        if args.input:
            texts.extend(serving_predict.read_lines(args.input))
        if not texts:
            raise serving_predict.PredictError("no texts: give TEXT arguments or --input FILE")
        if args.pairs:
            texts = [tuple(text.split("\t", 1)) for text in texts]
        if args.model_dir:
            predictor = serving_predict.LocalPredictor(args.model_dir, args.version,
                                                       args.batch_size)
        elif args.rest:
            predictor = serving_predict.RestPredictor(args.rest, args.model, args.version,
                                                      args.label, args.timeout, args.batch_size)
        else:
            predictor = serving_predict.GrpcPredictor(args.grpc, args.model, args.version,
                                                      args.label, args.timeout, args.batch_size)
        results = predictor.predict(texts)
    except (serving_predict.PredictError, versions.ServingDirError, OSError) as e:
        print(f"lmpipe: error: {e}", file=sys.stderr)
        return EXIT_PIPELINE_FAILED if isinstance(e, serving_predict.PredictError) else EXIT_BAD_INPUT
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        for text, result in zip(texts, results):
            given = {"text": text[0], "text_pair": text[1]} if args.pairs else {"text": text}
            out.write(json.dumps({**given, **result}, ensure_ascii=False) + "\n")
    finally:
        if args.output:
            out.close()
    return 0


def export_tflite(args) -> int:
    """A pushed classifier to TensorFlow Lite; with --run-dir, both scored on its eval split."""
    from models.tflite import TFLiteExportError
    from pipeline import export_tflite as exporter
    from serving.versions import ServingDirError

    try:
        report = exporter.export(args.model_dir, args.out, args.quantize, args.version,
                                 args.run_dir, args.calibration_data)
    except (TFLiteExportError, exporter.ExportError, ServingDirError, OSError) as e:
        print(f"lmpipe: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"lmpipe: wrote {report['tflite_model']} ({report['quantize']}, "
          f"{report['size_mb']:.1f} MB; the SavedModel is {report['saved_model_size_mb']:.1f} MB)")
    scores = report.get("eval_split")
    if scores:
        for name in ("saved_model", "tflite"):
            print(f"  {name:<12} eval accuracy {_number(scores[name]['accuracy'])}, macro F1 "
                  f"{_number(scores[name]['macro_f1'])} ({scores[name]['example_count']} examples)")
        print(f"  labels agree on {scores['label_agreement']:.1%} of the eval split"
              + ("" if scores["faithful"] else
                 f": below {exporter.MIN_AGREEMENT:.0%}, check the tokenization differences "
                 "(models/tflite.py) before shipping it"))
    else:
        print("  not scored: give --run-dir (the fine-tuning run) to compare it with the SavedModel")
    print(f"  report: {os.path.join(args.out, 'report.json')}")
    return 0


def rollback(args) -> int:
    """Makes an earlier version the one TF Serving serves (newer ones move to .retired/)."""
    import os

    from serving import versions

    model_dir = os.path.join(args.serving_dir, args.model)
    try:
        if args.to is not None:
            retired = versions.rollback(model_dir, args.to)
            print(f"lmpipe: {args.model} now serves version {args.to}; retired {retired or 'none'} "
                  f"to {os.path.join(model_dir, versions.RETIRED_DIR)}.")
        if args.keep:
            deleted = versions.prune(model_dir, args.keep)
            print(f"lmpipe: kept the newest {args.keep} version(s) of {args.model}; deleted "
                  f"{deleted or 'none'}.")
    except versions.ServingDirError as e:
        return _fail(EXIT_BAD_INPUT, str(e))
    print(f"lmpipe: versions of {args.model}: {versions.versions(model_dir)}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lmpipe", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="run the MLM pretraining pipeline locally")
    _add_config_flags(p, PretrainConfig)
    p.add_argument("--summary", default=None, help="summary JSON (default: RUN_DIR/summary.json)")
    p = sub.add_parser("import", help="turn a BERT or DistilBERT checkpoint (Hugging Face, "
                                      "keras-hub preset, lmpipe) into a served fill-mask model "
                                      "(or a fine-tuned classifier into a served classifier) "
                                      "and an encoder")
    _add_config_flags(p, ImportConfig)
    p.add_argument("--summary", default=None, help="summary JSON (default: RUN_DIR/summary.json)")
    p = sub.add_parser("finetune", help="fine-tune a pretrained encoder into a text classifier "
                                        "or a token classifier (named entities)")
    p.add_argument("--task", choices=TASKS, default="text-classification",
                   help="text-classification (sentences or pairs; the default) or "
                        "token-classification (a tag per word: named entities)")
    _add_config_flags(p, FinetuneConfig)
    _add_config_flags(p, TokenClassificationConfig,
                      skip={f.name for f in dataclasses.fields(FinetuneConfig)})
    p.add_argument("--summary", default=None, help="summary JSON (default: RUN_DIR/summary.json)")
    p = sub.add_parser("compile", help="write the pretraining pipeline for Vertex AI Pipelines "
                                       "or Kubeflow Pipelines (KubeflowV2DagRunner)")
    p.add_argument("--target", choices=("vertex", "kubeflow"), required=True)
    p.add_argument("--output", required=True, help="the pipeline spec file (.json or .yaml)")
    p.add_argument("--image", default="lmpipe:latest",
                   help="the pipeline image (built from Dockerfile) every component runs in")
    _add_config_flags(p, PretrainConfig)
    p = sub.add_parser("serve-config", help="write TF Serving's models.config for a serving dir")
    p.add_argument("--serving-dir", required=True, help="<dir>/<model>/<version>/ (the push target)")
    p.add_argument("--output", required=True, help="the ModelServerConfig text proto to write")
    p.add_argument("--model", action="append", help="only these models (repeatable)")
    p.add_argument("--latest", type=int, default=None, help="serve the latest N versions (default 1)")
    p.add_argument("--versions", default=None, help="serve these versions, e.g. 1700000000,1700000500")
    p.add_argument("--label", action="append", help="NAME=VERSION, e.g. stable=1700000000 (repeatable)")
    p.add_argument("--base-path", default=None,
                   help="where the server sees --serving-dir (e.g. /models in the container)")
    p = sub.add_parser("predict", help="run a pushed model on raw text (in-process, REST or gRPC)")
    p.add_argument("texts", nargs="*", metavar="TEXT")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--model-dir", help="a pushed model (<serving dir>/<model>) or a version dir")
    where.add_argument("--rest", metavar="URL", help="TF Serving REST, e.g. http://localhost:8501")
    where.add_argument("--grpc", metavar="HOST:PORT", help="TF Serving gRPC, e.g. localhost:8500")
    p.add_argument("--model", help="the model name on the server (with --rest/--grpc)")
    p.add_argument("--version", type=int, default=None)
    p.add_argument("--label", default=None, help="a version label, e.g. stable (server only)")
    p.add_argument("--input", help="a file of texts, one per line")
    p.add_argument("--pairs", action="store_true",
                   help="a model of text pairs: each text is TEXT<TAB>TEXT_PAIR")
    p.add_argument("--output", help="JSONL output file (default: stdout)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per server request")
    p = sub.add_parser("export-tflite", help="a pushed classifier to TensorFlow Lite (raw "
                                             "strings in), scored beside its SavedModel")
    p.add_argument("--model-dir", required=True,
                   help="a pushed classifier (<serving dir>/<model>, its latest version) or a "
                        "version dir")
    p.add_argument("--version", type=int, default=None)
    p.add_argument("--out", required=True, help="directory for model.tflite, labels.txt, "
                                                "report.json")
    p.add_argument("--quantize", default="none",
                   help="none (float32), dynamic (int8 weights) or int8 (weights and "
                        "activations, calibrated on training texts)")
    p.add_argument("--run-dir", default=None,
                   help="the lmpipe finetune run that pushed it: its eval split scores both "
                        "models, its train split calibrates int8")
    p.add_argument("--calibration-data", default=None,
                   help="texts (one per line) to calibrate int8 on, instead of the run's")
    p = sub.add_parser("rollback", help="serve an earlier version; cap the versions kept")
    p.add_argument("--serving-dir", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--to", type=int, default=None, metavar="VERSION")
    p.add_argument("--keep", type=int, default=None, help="then keep only the newest N versions")
    args = parser.parse_args(argv)
    if args.command == "predict" and (args.rest or args.grpc) and not args.model:
        parser.error("--model is required with --rest or --grpc")
    if args.command == "rollback" and args.to is None and not args.keep:
        parser.error("give --to VERSION and/or --keep N")
    py_logging.getLogger("absl").setLevel(py_logging.INFO)
    return {"pretrain": pretrain, "import": import_checkpoint, "finetune": finetune,
            "compile": compile_pipeline,
            "serve-config": serve_config, "predict": predict, "export-tflite": export_tflite,
            "rollback": rollback}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
