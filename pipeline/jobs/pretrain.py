"""The MLM pretraining job (`lmpipe pretrain`): its pipeline, pre-flight checks and summary
(pipeline/jobs/__init__.py runs it).

corpus → TextExampleGen → StatisticsGen → ExampleValidator (schemas/corpus.pbtxt)
       → WordPieceVocabGen (refuses data with anomalies) → Tokenize (Transform)
       → MlmMasker → Trainer → Evaluator (vs latest blessed) → Pusher

Continued pretraining (`init_from`): the checkpoint's vocabulary and weights instead of a
learned vocabulary and random weights (checkpoint → Importer → CheckpointImport → Tokenize,
MlmMasker, Trainer's base_model), and the Evaluator compares with that starting point: only a
model that beats it on the corpus' eval split is blessed.
"""

import dataclasses
import os

import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components.mlm_masker import MlmMasker
from components.text_example_gen import CorpusError, TextExampleGen
from components.tokenize import Tokenize
from components.vocab_gen import WordPieceVocabGen
from models.core import features
from models.core import lm_metrics
from pipeline import jobs
from pipeline.blessing import evaluate_and_push, overall_threshold
from pipeline.config import MIN_GAIN_OVER_START, ConfigError, PretrainConfig
from pipeline.jobs.import_checkpoint import starting_point
from pipeline.tfx_pipeline import (absolute, make_pipeline, repo_file, tuning_steps,
                                   validation_steps)
from pipeline.tfx_pipeline import pretraining_vocabulary
from pipeline.tfx_pipeline import trainer as build_trainer


def eval_config(cfg: PretrainConfig) -> tfma.EvalConfig:
    """Masked-token accuracy, loss and perplexity on eval; accuracy gates the blessing."""
    accuracy_thresholds = overall_threshold(
        cfg.min_masked_accuracy, -MIN_GAIN_OVER_START if cfg.init_from else cfg.max_regression)

    def metric(class_name, per_slice_thresholds=()):
        return tfma.MetricConfig(class_name=class_name, module=lm_metrics.__name__,
                                 per_slice_thresholds=list(per_slice_thresholds))

    return tfma.EvalConfig(
        # Keras 3 models load in TFMA only as generic SavedModels with a named signature.
        model_specs=[tfma.ModelSpec(signature_name=features.EVAL_SIGNATURE,
                                    model_type="tf_generic")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            metric("MaskedLMAccuracy", accuracy_thresholds),
            metric("MaskedLMLoss"),
            metric("MaskedLMPerplexity"),
        ])])


def create_pipeline(cfg: PretrainConfig, local: bool = True) -> tfx.dsl.Pipeline:
    """`local=False`: for Kubeflow/Vertex (paths inside the pipeline image, no local MLMD)."""
    example_gen = TextExampleGen(corpus_dir=absolute(cfg.corpus_dir),
                                 eval_buckets=cfg.eval_buckets)
    # Top values of whole documents tell nothing: sketches count them more cheaply, and every
    # example is still read (the schema checks presence).
    statistics_gen, schema_gen, example_validator = validation_steps(
        example_gen, repo_file("schemas", "corpus.pbtxt", image=not local),
        tfdv.StatsOptions(use_sketch_based_topk_uniques=True))
    vocabulary_steps, start_model = pretraining_vocabulary(
        cfg, example_gen, example_validator, WordPieceVocabGen,
        lambda: starting_point(cfg.init_from, cfg.seq_length, cfg.max_predictions, cfg.top_k,
                               cfg.model_name))
    vocabulary = vocabulary_steps[-1].outputs["vocabulary"]
    tokenize = Tokenize(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        vocabulary=vocabulary,
        # WordPieceVocabGen refuses anomalous data; without it, Tokenize does.
        anomalies=example_validator.outputs["anomalies"] if cfg.init_from else None,
        preprocessing_fn="models.masked_lm.preprocessing.preprocessing_fn",
        custom_config={"seq_length": cfg.seq_length})
    masker = MlmMasker(
        examples=tokenize.outputs["transformed_examples"], vocabulary=vocabulary,
        seq_length=cfg.seq_length, mask_rate=cfg.mask_rate, max_predictions=cfg.max_predictions,
        # With dynamic masking the train split's maskings go unused: one is enough.
        dupe_factor=1 if cfg.masking == "dynamic" else cfg.dupe_factor, seed=cfg.seed,
        whole_word_masking=cfg.whole_word_masking)
    # Dynamic masking masks Transform's windows as it reads them; the masker's eval split
    # stays the one fixed masked eval set the Evaluator scores.
    examples = (tokenize.outputs["transformed_examples"] if cfg.masking == "dynamic"
                else masker.outputs["masked_examples"])
    tuning, hyperparameters = tuning_steps(cfg, "models.masked_lm.trainer.tuner_fn", tokenize,
                                           base_model=start_model, examples=examples)
    trainer = build_trainer(cfg, "models.masked_lm.trainer.run_fn", tokenize,
                            base_model=start_model, examples=examples,
                            hyperparameters=hyperparameters)
    gate_and_push = evaluate_and_push(masker.outputs["masked_examples"], trainer.outputs["model"],
                                      eval_config(cfg), cfg.serving_model_dir, cfg.max_versions,
                                      baseline_model=start_model)
    return make_pipeline(cfg, [example_gen, statistics_gen, schema_gen, example_validator,
                                *vocabulary_steps, tokenize, masker, *tuning, trainer,
                                *gate_and_push],
                         local)


# -- the job: pre-flight, summary ---------------------------------------------------------------

JOB = "pretrain"  # the summary file's key
INPUT_ERRORS = (ConfigError, CorpusError)


@dataclasses.dataclass
class Plan:
    cfg: PretrainConfig
    corpus: dict  # what the corpus check read: the summary's `input`


def preflight(cfg: PretrainConfig, given=frozenset()) -> Plan:
    """The corpus (every file read), the starting checkpoint, the distribution settings;
    raises ConfigError or CorpusError. Prints what was read."""
    from components.text_example_gen.reader import inspect_corpus_dir

    report = inspect_corpus_dir(cfg.corpus_dir)
    start = None
    if cfg.init_from:
        start = jobs.check_checkpoint(cfg.init_from, "--init-from", cfg.seq_length)
        cfg = dataclasses.replace(cfg, init_from=start.path)
    jobs.check_distribution(cfg)
    jobs.check_tuning(cfg, given)
    if start:
        print(f"lmpipe: continuing pretraining from the {start.format} checkpoint "
              f"{start.path} (vocabulary of {start.vocab_size}, "
              f"{'uncased' if start.tokenizer.lowercase else 'cased'}).")
    info = report.to_json()
    nested = sum(os.path.dirname(os.path.relpath(f.path, cfg.corpus_dir)) != ""
                 for f in report.files)
    print(f"lmpipe: corpus {cfg.corpus_dir}: {jobs.count(info['files'], 'file')}"
          + (f" ({nested:,} in subdirectories)" if nested else "")
          + f", {jobs.count(info['documents'], 'document')}, {jobs.count(info['bytes'], 'byte')}")
    jobs.print_skipped(report.skipped)
    return Plan(cfg, info)


def cluster_plan(cfg: PretrainConfig, given=frozenset()) -> Plan:
    """`lmpipe compile --job pretrain`: the corpus is the cluster's (checked there, by the
    ExampleValidator, before anything is tokenized); --init-from is refused (its checkpoint is
    checked by reading it here)."""
    if cfg.init_from:
        raise ConfigError("--init-from reads a checkpoint on this machine's file system "
                          "(models/checkpoints/), which a Kubeflow / Vertex pipeline cannot; "
                          "continue pretraining with lmpipe pretrain here.")
    return Plan(cfg, {})


def build(plan: Plan, local: bool = True) -> tfx.dsl.Pipeline:
    return create_pipeline(plan.cfg, local=local)


def summarize(plan: Plan) -> dict:
    from pipeline import run_summary

    return {"input": plan.corpus, **run_summary.pretrain_summary(plan.cfg)}


def print_summary(plan: Plan, summary: dict, path: str) -> None:
    number, metrics = jobs.number, summary["eval_metrics"]
    lines = [
        *jobs.heading_lines("lmpipe pretrain", summary),
        *jobs.input_lines(summary, "document"),
        f"ML Metadata       {summary['metadata_path']}",
        f"vocabulary size   {summary['vocab_size']}",
        f"masked accuracy   {number(metrics.get('masked_accuracy'))} "
        f"(always the most frequent token: {number(summary['majority_token_accuracy'])})",
        f"perplexity        {number(metrics.get('perplexity'), 1)}",
    ]
    if "start_eval_metrics" in summary:
        start = summary["start_eval_metrics"]
        lines.append(f"starting point    {summary['init_from']}: masked accuracy "
                     f"{number(start.get('masked_accuracy'))}, perplexity "
                     f"{number(start.get('perplexity'), 1)} (blessed only if better)")
    lines += [
        *jobs.tuning_lines(summary),
        f"blessed           {summary['blessed']}",
        f"pushed model      {summary['pushed_model']}",
        f"wall time         {summary['wall_seconds']} s",
        f"summary           {path}",
    ]
    print("\n".join(lines))
