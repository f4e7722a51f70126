"""`lmpipe` command line.

    lmpipe pretrain --corpus data/corpus --run-dir runs/demo --train-steps 1000
    lmpipe pretrain --objective causal --corpus data/corpus --run-dir runs/gpt2
    lmpipe import --checkpoint ~/bert-base-cased --serving-dir serving --model-name bert

Every PretrainConfig field is a flag (`--vocab-size`, `--seq-length`, `--model-size`, ...).
Bad input fails before any pipeline work starts, with a message that names the file or setting.
"""

import argparse
import dataclasses
import importlib
import logging as py_logging
import os
import sys
import typing

from pipeline import jobs
from pipeline.config import (CausalPretrainConfig, ConfigError, FinetuneConfig, ImportConfig,
                             PretrainConfig, QuestionAnsweringConfig, TokenClassificationConfig)
from pipeline.jobs import EXIT_BAD_INPUT, EXIT_PIPELINE_FAILED, fail as _fail


HELP = {  # flags whose default alone does not say what they do
    "doc_stride": "--task question-answering: pieces two windows of a long context share; ",
    "max_query_length": "--task question-answering: a question's pieces beyond this are cut; ",
    "max_answer_length": "--task question-answering: pieces of the longest answer; ",
    "misaligned_answers": "--task question-answering: a gold answer whose answer_start does "
                          "not point at its text: error (list them all, run nothing) or drop "
                          "(leave them out, counted); ",
    "null_score_threshold": "--task question-answering with unanswerable questions: answer \"\" "
                            "when the no-answer score beats the best answer's by more than "
                            "this (default: the best on the eval split); ",
    "with_no_answer": "--task question-answering: the data has unanswerable questions (SQuAD "
                      "v2.0); the served model may answer \"\"; ",
    "long_text": "a text longer than one window: first (its first window), head-tail (its "
                 "first and last pieces in one window) or windows (all of it, as windows); ",
    "window_stride": "pieces two windows of a long text share (default: a quarter of a "
                     "window); ",
    "window_pooling": "--long-text windows: a text's logits are the mean or max of its "
                      "windows'; ",
    "max_windows": "--long-text windows: read at most this many windows of a text; ",
    "max_perplexity": "--objective causal: blessed only at or below this eval perplexity "
                      "(default: the vocabulary size, a uniform guess's); ",
    "max_new_tokens": "--objective causal: tokens the served model generates by default; ",
    "documents_per_batch": "--objective causal: documents joined before cutting blocks "
                           "(each batch drops its last partial block); ",
    "pad_to_multiple_of": "--batching bucketed: each batch is padded to its longest, rounded "
                          "up to a multiple of this; ",
    "tune": "a search space (YAML or JSON: algorithm, max_trials, trial_steps, objective, "
            "hyperparameters; docs/tuning.md): search on the eval split, then train the final "
            "model with the best settings; ",
    "hyperparameters_from": "train with an earlier search's best settings, no search: a run "
                            "directory, its best_hyperparameters.txt or a {setting: value} "
                            "YAML/JSON file; ",
    "tuner_workers": "--tune: trials in this many processes sharing one oracle (KerasTuner's "
                     "chief/worker protocol); ",
}


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
                                     "file of tagged sentences; with --task "
                                     "question-answering: SQuAD JSON or JSONL), or a "
                                     "directory of them "
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
                                help=HELP.get(field.name, "") + f"default: {field.default}")


def _compile_job(argv):
    """(--job, --task) of an `lmpipe compile` command line, read before its flags are known
    (an unknown --job is left for the full parser to refuse)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--job", default="pretrain")
    pre.add_argument("--task", default="text-classification")
    known, _ = pre.parse_known_args([a for a in argv if a not in ("-h", "--help")])
    return (known.job if known.job in ("finetune", "import") else "pretrain"), known.task


def _config_from_args(args, config_cls):
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_cls)
              if getattr(args, f.name, None) is not None}
    return config_cls(**values)


def _given(args, config_cls) -> set:
    """The config fields the user set on the command line."""
    return {f.name for f in dataclasses.fields(config_cls) if getattr(args, f.name, None) is not None}


# --objective: (config class, the job's module)
OBJECTIVES = {"masked": (PretrainConfig, "pipeline.jobs.pretrain"),
              "causal": (CausalPretrainConfig, "pipeline.jobs.causal_lm")}


def pretrain(args) -> int:
    """`lmpipe pretrain --objective masked|causal`: pipeline/jobs/pretrain.py's or
    pipeline/jobs/causal_lm.py's job."""
    config_cls, module = OBJECTIVES[args.objective]
    return jobs.run(importlib.import_module(module),
                    lambda: _own_config(args, OBJECTIVES, args.objective, "--objective"),
                    _given(args, config_cls), args.summary, args.dry_run)


def import_checkpoint(args) -> int:
    """`lmpipe import`: a checkpoint to a pushed fill-mask model and an encoder, no training
    (pipeline/jobs/import_checkpoint.py's job)."""
    from pipeline.jobs import import_checkpoint as job

    return jobs.run(job, lambda: _config_from_args(args, ImportConfig),
                    _given(args, ImportConfig), args.summary, args.dry_run)


# --task: (config class, the job's module)
TASKS = {"text-classification": (FinetuneConfig, "pipeline.jobs.text_classification"),
         "token-classification": (TokenClassificationConfig, "pipeline.jobs.token_classification"),
         "question-answering": (QuestionAnsweringConfig, "pipeline.jobs.question_answering")}


def _own_config(args, choices: dict, choice: str, flag: str):
    """The config of `choice` (a --task or --objective); refuses a flag that belongs to
    another choice only."""
    config_cls = choices[choice][0]
    mine = {f.name for f in dataclasses.fields(config_cls)}
    foreign = sorted({f.name for cls, _ in choices.values() for f in dataclasses.fields(cls)
                      if f.name not in mine and getattr(args, f.name, None) is not None})
    if foreign:
        raise ConfigError(f"{', '.join('--' + n.replace('_', '-') for n in foreign)}: not a "
                          f"setting of {flag} {choice}")
    return _config_from_args(args, config_cls)


def finetune(args) -> int:
    """`lmpipe finetune --task T`: the task's job (pipeline/jobs/text_classification.py,
    pipeline/jobs/token_classification.py) owns its checks, pipeline and summary."""
    config_cls, module = TASKS[args.task]
    return jobs.run(importlib.import_module(module),
                    lambda: _own_config(args, TASKS, args.task, "--task"),
                    _given(args, config_cls), args.summary, args.dry_run)


# lmpipe compile --job: (config class, the job's module); finetune's follow --task.
COMPILE_JOBS = {"pretrain": (PretrainConfig, "pipeline.jobs.pretrain"),
                "import": (ImportConfig, "pipeline.jobs.import_checkpoint")}


def _compile_config(args):
    """The job's config; on a runner whose workers need lmpipe's image, the pipeline image
    (--image) is their SDK container unless --beam-arg names one (printed)."""
    from pipeline import beam_options

    given = list(args.beam_args or [])
    if beam_options.stages_tfx_sdist(beam_options.with_runner(given,
                                                               args.beam_runner or "DirectRunner")):
        args.beam_args = [*given, f"--sdk_container_image={args.image}"]
        print(f"lmpipe: note: Beam workers run the pipeline image: added "
              f"--sdk_container_image={args.image}")
    if args.job == "finetune":
        return _own_config(args, TASKS, args.task, "--task")
    return _config_from_args(args, COMPILE_JOBS[args.job][0])


def compile_pipeline(args) -> int:
    """`lmpipe compile --job J`: J's pipeline as a Kubeflow Pipelines v2 / Vertex AI spec, after
    the checks its job module's `cluster_plan` can make here."""
    import tensorflow as tf

    from pipeline import kubeflow_v2_runner as compiler
    from pipeline.resolve_pretrained import PretrainedError

    module = importlib.import_module(TASKS[args.task][1] if args.job == "finetune"
                                     else COMPILE_JOBS[args.job][1])
    try:
        cfg = _compile_config(args)
        compiler.check_target(cfg, args.job, args.target, args.output)
        plan = module.cluster_plan(cfg, frozenset(_given(args, type(cfg))))
        pipeline = module.build(plan, local=False)
        if args.vertex_training:
            compiler.train_on_vertex(pipeline, args.vertex_region, compiler.read_vertex_training(
                args.vertex_training, args.vertex_region, args.image, plan.cfg.strategy))
        path = compiler.compile_pipeline(pipeline, args.target, args.output, args.image)
    except (ConfigError, PretrainedError, compiler.CompileError,
            *getattr(module, "INPUT_ERRORS", ())) as e:  # the job's data errors too
        return _fail(EXIT_BAD_INPUT, str(e))
    except tf.errors.OpError as e:  # a bucket this machine cannot read or write
        return _fail(EXIT_BAD_INPUT, f"{type(e).__name__}: {e.message[:300]}. `lmpipe compile` "
                     "reads and writes the cluster paths through tf.io.gfile: run it where the "
                     "bucket is readable (e.g. after `gcloud auth application-default login`).")
    print(f"lmpipe: wrote the {args.target} spec of the {args.job} pipeline to {path}\n"
          f"lmpipe: image {args.image}; Beam options {' '.join(plan.cfg.pipeline_beam_args)}; "
          "submit it as README.md 'Kubeflow Pipelines and Vertex AI Pipelines' shows.")
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
        questions = bool(args.question or args.context or (args.input or "").endswith(".jsonl"))
        if questions:
            texts = question_items(args)
        elif args.input:
            texts.extend(serving_predict.read_lines(args.input))
        if not texts:
            raise serving_predict.PredictError("no texts: give TEXT arguments or --input FILE")
        if args.pairs:
            texts = [tuple(text.split("\t", 1)) for text in texts]
        generation = {name: getattr(args, name) for name in serving_predict.GENERATION_TYPES
                      if getattr(args, name) is not None}
        if generation and not args.model_dir:
            raise serving_predict.PredictError(
                "generation settings are sent by --model-dir; over REST or gRPC call the "
                "model's `generate` signature (README: Causal language models)")
        if args.model_dir:
            predictor = serving_predict.LocalPredictor(args.model_dir, args.version,
                                                       args.batch_size, generation)
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
            given = (text if isinstance(text, dict) else
                     {"text": text[0], "text_pair": text[1]} if args.pairs else {"text": text})
            out.write(json.dumps({**given, **result}, ensure_ascii=False) + "\n")
    finally:
        if args.output:
            out.close()
    return 0


def question_items(args) -> list:
    """A question-answering model's inputs: --question with --context, and the lines of an
    --input JSONL file (`{"question": ..., "context": ...}` each)."""
    import json

    from serving import predict as serving_predict

    if bool(args.question) != bool(args.context) or args.texts:
        raise serving_predict.PredictError(
            "a question-answering model takes --question and --context together (and no TEXT "
            "arguments), or --input FILE.jsonl of {\"question\", \"context\"} lines")
    items = [{"question": args.question, "context": args.context}] if args.question else []
    if args.input:
        for number, line in enumerate(serving_predict.read_lines(args.input), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                items.append({"question": str(row["question"]), "context": str(row["context"])})
            except (ValueError, KeyError, TypeError):
                raise serving_predict.PredictError(
                    f"{args.input}, line {number}: expected a JSON object with \"question\" "
                    "and \"context\"") from None
    return items


def export_tflite(args) -> int:
    """A pushed classifier to TensorFlow Lite; with --run-dir, both scored on its eval split."""
    from models.text_classification.tflite import TFLiteExportError
    from pipeline.jobs import export_tflite as exporter
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
            print(f"  {name:<12} eval accuracy {jobs.number(scores[name]['accuracy'])}, macro F1 "
                  f"{jobs.number(scores[name]['macro_f1'])} ({scores[name]['example_count']} examples)")
        print(f"  labels agree on {scores['label_agreement']:.1%} of the eval split"
              + ("" if scores["faithful"] else
                 f": below {exporter.MIN_AGREEMENT:.0%}, check the tokenization differences "
                 "(models/text_classification/tflite.py) before shipping it"))
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


DRY_RUN_HELP = ("run the pre-flight checks only (inputs, checkpoint, settings: everything checked "
                "before any work), print what was read, and start nothing")


def _add_jobs_flags(parser: argparse.ArgumentParser, *config_classes) -> None:
    """Every field of the jobs' config classes as a flag, once (a later class adds only the
    fields the earlier ones do not have)."""
    seen = set()
    for config_cls in config_classes:
        _add_config_flags(parser, config_cls, skip=frozenset(seen))
        seen |= {f.name for f in dataclasses.fields(config_cls)}


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of a job run here (not compiled): its summary file and --dry-run."""
    parser.add_argument("--summary", default=None,
                        help="summary JSON (default: RUN_DIR/summary.json)")
    parser.add_argument("--dry-run", action="store_true", help=DRY_RUN_HELP)


def build_parser(argv) -> argparse.ArgumentParser:
    """The `lmpipe` argument parser (`argv`: the command line, which says the job whose flags
    `lmpipe compile` takes)."""
    parser = argparse.ArgumentParser(prog="lmpipe", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="run the pretraining pipeline locally: masked LM "
                                        "(BERT) or causal LM (GPT-2)")
    p.add_argument("--objective", choices=sorted(OBJECTIVES), default="masked",
                   help="masked (BERT's masked LM; the default) or causal (GPT-2's next-token "
                        "LM, served as text generation)")
    _add_jobs_flags(p, PretrainConfig, CausalPretrainConfig)
    _add_run_flags(p)
    p = sub.add_parser("import", help="turn a BERT or DistilBERT checkpoint (Hugging Face, "
                                      "keras-hub preset, lmpipe) into a served fill-mask model "
                                      "(or a fine-tuned classifier into a served classifier) "
                                      "and an encoder")
    _add_jobs_flags(p, ImportConfig)
    _add_run_flags(p)
    p = sub.add_parser("finetune", help="fine-tune a pretrained encoder into a text classifier, "
                                        "a token classifier (named entities) or an extractive "
                                        "question answerer")
    p.add_argument("--task", choices=sorted(TASKS), default="text-classification",
                   help="text-classification (sentences or pairs; the default), "
                        "token-classification (a tag per word: named entities) or "
                        "question-answering (SQuAD: answer spans of a context)")
    _add_jobs_flags(p, FinetuneConfig, TokenClassificationConfig, QuestionAnsweringConfig)
    _add_run_flags(p)
    p = sub.add_parser("compile", help="write a job's pipeline for Vertex AI Pipelines or "
                                       "Kubeflow Pipelines (KubeflowV2DagRunner); "
                                       "`lmpipe compile --job J --help` lists J's flags")
    p.add_argument("--job", choices=("pretrain", "finetune", "import"), default="pretrain",
                   help="the job to compile (default pretrain); it takes that job's flags")
    p.add_argument("--target", choices=("vertex", "kubeflow"), required=True)
    p.add_argument("--output", required=True, help="the pipeline spec file (.json or .yaml)")
    p.add_argument("--image", default="lmpipe:latest",
                   help="the pipeline image (built from Dockerfile) every component runs in")
    p.add_argument("--vertex-training", default=None, metavar="FILE.json",
                   help="run the Trainer as a Vertex AI CustomJob of this spec (project, "
                        "worker_pool_specs): several replicas with --strategy multi_worker, a "
                        "TPU with --strategy tpu (docs/scale-out.md, 'Training beyond one machine')")
    p.add_argument("--vertex-region", default=None, help="the region of --vertex-training's job")
    job, _ = _compile_job(argv[1:]) if argv[:1] == ["compile"] else ("pretrain", None)
    if job == "finetune":
        p.add_argument("--task", choices=sorted(TASKS), default="text-classification")
        _add_jobs_flags(p, FinetuneConfig, TokenClassificationConfig, QuestionAnsweringConfig)
    else:
        _add_jobs_flags(p, COMPILE_JOBS[job][0])
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
    p.add_argument("--input", help="a file of texts, one per line (a question-answering "
                                   "model: a .jsonl file of {\"question\", \"context\"})")
    p.add_argument("--question", help="a question-answering model: the question (with --context)")
    p.add_argument("--context", help="a question-answering model: the text that answers it")
    p.add_argument("--pairs", action="store_true",
                   help="a model of text pairs: each text is TEXT<TAB>TEXT_PAIR")
    p.add_argument("--output", help="JSONL output file (default: stdout)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per server request")
    for name, kind, text in (
            ("max-new-tokens", int, "tokens to generate"),
            ("temperature", float, "0: greedy; above 0: sampled"),
            ("top-k", int, "sample among the k most probable tokens (0: all)"),
            ("top-p", float, "sample among the most probable tokens whose probability reaches p"),
            ("seed", int, "the same seed and settings give the same text")):
        p.add_argument("--" + name, type=kind, default=None,
                       help=f"a text-generation model: {text} (default: the model's)")
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
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
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
