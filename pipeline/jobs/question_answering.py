"""The question-answering job (`lmpipe finetune --task question-answering`): its config,
pre-flight checks, pipeline and summary. The task's other files:
components/question_answer_example_gen (reader, ExampleGen), models/question_answering/model.py
(preprocessing_fn, span head, answer search), models/question_answering/trainer.py,
models/question_answering/export.py (signatures), models/question_answering/metrics.py (SQuAD's
exact match and F1 as TFMA metrics).

SQuAD JSON / JSONL → QuestionAnswerExampleGen → StatisticsGen → ExampleValidator (the curated
    schemas/question_answering.pbtxt)
    → Tokenize (Transform: [CLS] question [SEP] context window [SEP], doc_stride windows, the
      answer's start and end per window)
      (a checkpoint from elsewhere: Importer → CheckpointImport give the vocabulary and model)
    → Trainer (pretrained encoder + span head)
    → Evaluator (TFMA: F1 at least --min-f1 and no regression vs the latest blessed model)
    → Pusher
"""

import dataclasses
import glob
import json
import os
from typing import Sequence

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components.question_answer_example_gen import QuestionAnswerExampleGen
from components.question_answer_example_gen import reader as qa_reader
from components.tokenize import Tokenize
from models.core.settings import ConfigError
from models.question_answering import metrics as squad
from models.question_answering.export import QA_EVAL_SIGNATURE
from pipeline import jobs
from pipeline.blessing import evaluate_and_push, overall_threshold
from pipeline.config import QuestionAnsweringConfig
from pipeline.jobs.import_checkpoint import fine_tuning_start
from pipeline.resolve_pretrained import Pretrained, PretrainedError
from pipeline.tfx_pipeline import (absolute, make_pipeline, pipeline_schema_file, repo_file,
                                   tuning_steps, validation_steps)
from pipeline.tfx_pipeline import trainer as build_trainer

TASK = JOB = "question_answering"  # the summary's `task` and the summary file's key
SCHEMA = ("schemas", "question_answering.pbtxt")
INPUT_ERRORS = (ConfigError, qa_reader.QADataError, PretrainedError)


def eval_config(cfg: QuestionAnsweringConfig) -> tfma.EvalConfig:
    """SQuAD F1 (gates the blessing) and exact match on the eval split, from the model's
    `qa_eval` signature."""
    def metric(class_name, thresholds=()):
        return tfma.MetricConfig(class_name=class_name, module=squad.__name__,
                                 per_slice_thresholds=list(thresholds))

    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name=QA_EVAL_SIGNATURE, model_type="tf_generic")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            metric("SquadF1", overall_threshold(cfg.min_f1, cfg.max_regression)),
            metric("SquadExactMatch")])])


def create_pipeline(cfg: QuestionAnsweringConfig, pretrained: Pretrained,
                    local: bool = True) -> tfx.dsl.Pipeline:
    example_gen = QuestionAnswerExampleGen(absolute(cfg.data), cfg.split_buckets,
                                           cfg.misaligned_answers)
    statistics_gen, schema_gen, example_validator = validation_steps(
        example_gen, pipeline_schema_file(cfg, repo_file(*SCHEMA), "qa"))  # copied to the run
    # A QA checkpoint is imported with this run's answer search (its servable and head).
    start, vocabulary, base_model = fine_tuning_start(pretrained, cfg.seq_length, json.dumps({
        name: getattr(cfg, name) for name in ("seq_length", "doc_stride", "max_query_length",
                                              "max_answer_length", "top_k")}, sort_keys=True))
    tokenize = Tokenize(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        vocabulary=vocabulary, anomalies=example_validator.outputs["anomalies"],
        preprocessing_fn="models.question_answering.model.preprocessing_fn",
        custom_config={"seq_length": cfg.seq_length, "doc_stride": cfg.doc_stride,
                       "max_query_length": cfg.max_query_length})
    tuning, hyperparameters = tuning_steps(cfg, "models.question_answering.trainer.tuner_fn",
                                           tokenize, base_model=base_model)
    trainer = build_trainer(cfg, "models.question_answering.trainer.run_fn", tokenize,
                            base_model=base_model, hyperparameters=hyperparameters)
    gate_and_push = evaluate_and_push(example_gen.outputs["examples"], trainer.outputs["model"],
                                      eval_config(cfg), cfg.serving_model_dir, cfg.max_versions)
    return make_pipeline(cfg, [example_gen, statistics_gen, schema_gen, example_validator,
                               *start, tokenize, *tuning, trainer, *gate_and_push],
                         local=local)


# -- the job: pre-flight, summary ---------------------------------------------------------------

@dataclasses.dataclass
class Plan:
    """What the pre-flight checks found."""

    cfg: QuestionAnsweringConfig
    data: dict
    pretrained: Pretrained
    head: str
    tuning: dict = dataclasses.field(default_factory=dict)  # jobs.check_tuning's


def preflight(cfg: QuestionAnsweringConfig, given=frozenset()) -> Plan:
    """Every check that can be made before any pipeline work: every file read (all problems
    reported at once: misaligned answers, bad fields, repeated ids), the checkpoint, the
    distribution settings. Raises ConfigError, QADataError or PretrainedError; prints what
    was read."""
    from pipeline import resolve_pretrained as pretrained_lib

    pretrained = pretrained_lib.resolve(cfg.pretrained)
    pretrained_lib.check_vocabulary_matches(pretrained)
    head, kept = "new", False
    if pretrained.needs_import:
        start = jobs.check_checkpoint(pretrained.model_uri, "--pretrained", cfg.seq_length)
        kept = start.task == "question-answering"
    else:  # an lmpipe model: a QA checkpoint imported earlier keeps its head beside its encoder
        from models import checkpoints
        kept = bool(checkpoints.classifier_head(pretrained.encoder_dir,
                                                checkpoints.QUESTION_ANSWERING))
    if kept:
        head = ("new (--from-scratch)" if cfg.from_scratch else
                "the checkpoint's span head (qa_outputs)")
    report = qa_reader.check_qa_data(cfg.data, cfg.misaligned_answers)
    jobs.check_distribution(cfg)
    data = report.to_json()
    dropped = (f"; dropped {data['misaligned_answers_dropped']} misaligned answer(s) and "
               f"{data['questions_dropped']} question(s) left without one"
               if cfg.misaligned_answers == "drop" else "")
    print(f"lmpipe: {data['questions']:,} questions ({data['unanswerable']:,} unanswerable) in "
          f"{jobs.count(data['files'], 'file')}{dropped}")
    if data["unanswerable"] and not cfg.with_no_answer:
        cfg = dataclasses.replace(cfg, with_no_answer=True)
        print("lmpipe: the data has unanswerable questions (SQuAD v2.0): the model learns to "
              "answer \"\" (--with-no-answer), with the no-answer threshold "
              + ("learned on the eval split" if cfg.null_score_threshold is None else
                 f"{cfg.null_score_threshold} (--null-score-threshold)"))
    tuning = jobs.check_tuning(cfg, given)
    return Plan(cfg, data, pretrained, head, tuning)


def cluster_plan(cfg: QuestionAnsweringConfig, given=frozenset()) -> Plan:
    """`lmpipe compile --job finetune --task question-answering`: the checkpoint as a cluster
    path; the data is read by the cluster's ExampleGen."""
    from pipeline import resolve_pretrained as pretrained_lib

    return Plan(cfg, {}, pretrained_lib.resolve_on_cluster(cfg.pretrained), "new")


def build(plan: Plan, local: bool = True) -> tfx.dsl.Pipeline:
    return create_pipeline(plan.cfg, plan.pretrained, local=local)


def summarize(plan: Plan) -> dict:
    """The run's eval metrics (the Evaluator's), its test metrics (the pushed model on the
    test split, once; never used for blessing), blessing and push, from ML Metadata."""
    from pipeline import run_summary

    cfg = plan.cfg
    store = run_summary._store(cfg)
    summary = run_summary._common_summary(store, cfg)
    summary.update(task=TASK, pretrained_model=plan.pretrained.model_uri, span_head=plan.head,
                   input=plan.data)
    examples = run_summary.latest_output(store, "FileBasedExampleGen", "Examples")
    test_files = glob.glob(os.path.join(examples.uri, "Split-test", "*")) if examples else []
    if summary["pushed"]:
        from models.core.export import MODEL_INFO_DIR, MODEL_INFO_FILE
        with open(os.path.join(summary["pushed_model"], "assets.extra", MODEL_INFO_DIR,
                               MODEL_INFO_FILE)) as f:
            served = json.load(f)
        summary["served_settings"] = served
        eval_files = glob.glob(os.path.join(examples.uri, "Split-eval", "*")) if examples else []
        if cfg.with_no_answer and eval_files:  # v2.0's HasAns / NoAns figures on eval
            summary["eval_squad"] = test_metrics(summary["pushed_model"], eval_files)["squad"]
    if summary["pushed"] and test_files:
        summary["test_metrics"] = test_metrics(summary["pushed_model"], test_files)
    return summary


def test_metrics(model_dir: str, files: Sequence[str]) -> dict:
    """SQuAD exact match and F1 (fractions, and the official scripts' percentages under
    `squad`) of a served question-answering model on serialized examples (its `qa_eval`
    signature)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the serving graph's tokenizer ops)

    evaluate = tf.saved_model.load(model_dir).signatures[QA_EVAL_SIGNATURE]
    predictions, golds = [], []
    for batch in tf.data.TFRecordDataset(list(files), compression_type="GZIP").batch(64):
        out = evaluate(examples=batch)
        predictions += [p.decode("utf-8") for p in out["prediction"].numpy()]
        golds += [[g.decode("utf-8") for g in row[:n]] for row, n in
                  zip(out["gold_answers"].numpy(), out["gold_count"].numpy())]
    scores = squad.squad_scores(predictions, golds)
    return {"f1": scores["f1"] / 100, "exact_match": scores["exact_match"] / 100,
            "questions": scores["total"], "squad": scores}


def print_summary(plan: Plan, summary: dict, path: str) -> None:
    cfg, number = plan.cfg, jobs.number
    metrics, test = summary["eval_metrics"], summary.get("test_metrics")
    data = summary.get("input", {})

    def pct(value):
        return "-" if value is None else f"{100 * value:.1f}"

    print("\n".join([
        *jobs.heading_lines("lmpipe finetune --task question-answering", summary),
        f"input             {data.get('questions', 0):,} questions "
        f"({data.get('unanswerable', 0):,} unanswerable) in {data.get('files', 0)} file(s)"
        + (f"; dropped {data.get('misaligned_answers_dropped', 0)} misaligned answer(s), "
           f"{data.get('questions_dropped', 0)} question(s)"
           if cfg.misaligned_answers == "drop" else ""),
        f"pretrained        {summary['pretrained_model']}",
        f"span head         {summary['span_head']}",
        f"windows           {cfg.seq_length} pieces, overlapping by {cfg.doc_stride} "
        f"(doc_stride); questions cut to {cfg.max_query_length} pieces; answers up to "
        f"{cfg.max_answer_length} pieces",
        f"eval F1 / EM      {pct(metrics.get('f1'))} / {pct(metrics.get('exact_match'))} "
        "(SQuAD's, %)",
        *([f"no answer         answered \"\" when the no-answer score beats the best answer's by "
           f"more than {summary['served_settings']['null_score_threshold']:.4g}; eval HasAns F1 "
           f"{summary['eval_squad'].get('HasAns_f1', 0):.1f}, NoAns F1 "
           f"{summary['eval_squad'].get('NoAns_f1', 0):.1f}"]
          if cfg.with_no_answer and "eval_squad" in summary else []),
        *([f"test F1 / EM      {pct(test['f1'])} / {pct(test['exact_match'])} ({test['questions']}"
           " questions; reported, never used for blessing)"] if test else []),
        *jobs.tuning_lines(summary),
        f"blessed           {summary['blessed']}  (F1 at least {number(cfg.min_f1)})",
        f"pushed model      {summary['pushed_model']}",
        f"wall time         {summary['wall_seconds']} s",
        f"summary           {path}",
    ]))
