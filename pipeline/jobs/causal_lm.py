"""The causal LM (GPT-2) pretraining job (`lmpipe pretrain --objective causal`): its pipeline,
pre-flight checks and summary (pipeline/jobs/__init__.py runs it).

corpus → TextExampleGen → StatisticsGen → ExampleValidator (schemas/corpus.pbtxt)
       → ByteLevelBPEVocabGen (refuses data with anomalies) → Tokenize (Transform: byte-level
         BPE, documents joined with <|endoftext|>, cut into blocks)
       → Trainer (GPT2CausalLM) → Evaluator (token loss, perplexity; vs latest blessed) → Pusher

Continued pretraining (`init_from`, a GPT-2 checkpoint): checkpoint → Importer →
CausalCheckpointImport (its vocabulary, and its generation SavedModel) → Tokenize, the
Trainer's base_model, and the Evaluator's baseline: only a model that beats the checkpoint's
perplexity on the corpus' eval split is blessed.
"""

import dataclasses
import os

import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components.checkpoint_import.causal import CausalCheckpointImport
from components.text_example_gen import CorpusError, TextExampleGen
from components.tokenize import Tokenize
from components.types import GPT2Checkpoint
from components.vocab_gen import ByteLevelBPEVocabGen
from models.causal_lm.export import LM_EVAL_SIGNATURE
from models.core import lm_metrics
from pipeline import jobs
from pipeline.blessing import evaluate_and_push, overall_threshold
from pipeline.config import MIN_GAIN_OVER_START, CausalPretrainConfig, ConfigError
from pipeline.tfx_pipeline import (absolute, make_pipeline, repo_file, tuning_steps,
                                   validation_steps)
from pipeline.tfx_pipeline import pretraining_vocabulary
from pipeline.tfx_pipeline import trainer as build_trainer


def eval_config(cfg: CausalPretrainConfig, vocab_size: int) -> tfma.EvalConfig:
    """Next-token loss, accuracy and perplexity on eval; perplexity gates the blessing (at most
    `max_perplexity`, default `vocab_size`: better than a uniform guess)."""
    ceiling = cfg.max_perplexity if cfg.max_perplexity is not None else float(vocab_size)
    thresholds = overall_threshold(
        ceiling, -MIN_GAIN_OVER_START if cfg.init_from else cfg.max_regression,
        lower_is_better=True)

    def metric(class_name, per_slice_thresholds=()):
        return tfma.MetricConfig(class_name=class_name, module=lm_metrics.__name__,
                                 per_slice_thresholds=list(per_slice_thresholds))

    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name=LM_EVAL_SIGNATURE, model_type="tf_generic")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            metric("CausalLMPerplexity", thresholds),
            metric("CausalLMLoss"),
            metric("CausalLMAccuracy"),
        ])])


def starting_point(path: str, seq_length: int, model_name: str, max_new_tokens: int):
    """[Importer, CausalCheckpointImport]; the second's outputs: `model`, `vocabulary`."""
    importer = tfx.dsl.Importer(source_uri=absolute(path), artifact_type=GPT2Checkpoint
                                ).with_id("checkpoint")
    imported = CausalCheckpointImport(importer.outputs["result"], seq_length=seq_length,
                                      model_name=model_name, max_new_tokens=max_new_tokens)
    return importer, imported


def create_pipeline(cfg: CausalPretrainConfig, vocab_size: int,
                    local: bool = True) -> tfx.dsl.Pipeline:
    example_gen = TextExampleGen(corpus_dir=absolute(cfg.corpus_dir),
                                 eval_buckets=cfg.eval_buckets)
    statistics_gen, schema_gen, example_validator = validation_steps(
        example_gen, repo_file("schemas", "corpus.pbtxt", image=not local),
        tfdv.StatsOptions(use_sketch_based_topk_uniques=True))
    vocabulary_steps, start_model = pretraining_vocabulary(
        cfg, example_gen, example_validator, ByteLevelBPEVocabGen,
        lambda: starting_point(cfg.init_from, cfg.seq_length, cfg.model_name,
                               cfg.max_new_tokens))
    tokenize = Tokenize(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        vocabulary=None, bpe_vocabulary=vocabulary_steps[-1].outputs["vocabulary"],
        anomalies=example_validator.outputs["anomalies"] if cfg.init_from else None,
        preprocessing_fn="models.causal_lm.model.causal_lm_preprocessing_fn",
        custom_config={"seq_length": cfg.seq_length,
                       "documents_per_batch": cfg.documents_per_batch})
    tuning, hyperparameters = tuning_steps(cfg, "models.causal_lm.trainer.tuner_fn", tokenize,
                                           base_model=start_model)
    trainer = build_trainer(cfg, "models.causal_lm.trainer.run_fn", tokenize,
                            base_model=start_model, hyperparameters=hyperparameters)
    gate_and_push = evaluate_and_push(tokenize.outputs["transformed_examples"],
                                      trainer.outputs["model"], eval_config(cfg, vocab_size),
                                      cfg.serving_model_dir, cfg.max_versions,
                                      baseline_model=start_model)
    return make_pipeline(cfg, [example_gen, statistics_gen, schema_gen, example_validator,
                                *vocabulary_steps, tokenize, *tuning, trainer, *gate_and_push],
                         local)


# -- the job: pre-flight, summary ---------------------------------------------------------------

JOB = "pretrain"  # the summary file's key (as the masked objective's)
INPUT_ERRORS = (ConfigError, CorpusError)


@dataclasses.dataclass
class Plan:
    cfg: CausalPretrainConfig
    corpus: dict  # what the corpus check read: the summary's `input`
    vocab_size: int  # the learned vocabulary's (requested) size or the checkpoint's


def check_gpt2(path: str, flag: str, seq_length: int):
    """The GPT-2 checkpoint at `path` (an lmpipe run directory: its latest blessed model),
    checked before any work; raises ConfigError naming the flag, file and field."""
    from models.checkpoints import gpt2 as gpt2_checkpoint
    from pipeline import resolve_pretrained

    try:
        if os.path.isfile(os.path.join(path, "metadata.sqlite")):
            path = resolve_pretrained.resolve(path).model_uri
        if os.path.basename(path.rstrip("/")) == "Format-Serving":
            path = os.path.dirname(path.rstrip("/"))
        ckpt = gpt2_checkpoint.inspect_gpt2(path)
        gpt2_checkpoint.check_positions(ckpt, seq_length)
    except (gpt2_checkpoint.CheckpointError, resolve_pretrained.PretrainedError) as e:
        raise ConfigError(f"{flag} {path}: {e}") from None
    return ckpt


def preflight(cfg: CausalPretrainConfig, given=frozenset()) -> Plan:
    """The corpus (every file read), the starting checkpoint, the distribution settings;
    raises ConfigError or CorpusError. Prints what was read."""
    from components.text_example_gen.reader import inspect_corpus_dir

    report = inspect_corpus_dir(cfg.corpus_dir)
    vocab_size = cfg.vocab_size
    if cfg.init_from:
        start = check_gpt2(cfg.init_from, "--init-from", cfg.seq_length)
        cfg = dataclasses.replace(cfg, init_from=start.path)
        vocab_size = start.vocab_size
        print(f"lmpipe: continuing causal pretraining from the {start.format} GPT-2 checkpoint "
              f"{start.path} ({start.num_layers} layers, hidden {start.hidden_dim}, "
              f"{start.positions} positions, vocabulary of {start.vocab_size}).")
    jobs.check_distribution(cfg)
    jobs.check_tuning(cfg, given)
    info = report.to_json()
    print(f"lmpipe: corpus {cfg.corpus_dir}: {jobs.count(info['files'], 'file')}, "
          f"{jobs.count(info['documents'], 'document')}, {jobs.count(info['bytes'], 'byte')}")
    jobs.print_skipped(report.skipped)
    return Plan(cfg, info, vocab_size)


def build(plan: Plan) -> tfx.dsl.Pipeline:
    return create_pipeline(plan.cfg, plan.vocab_size)


def summarize(plan: Plan) -> dict:
    from pipeline import run_summary

    return {"input": plan.corpus, "objective": "causal",
            **run_summary.causal_pretrain_summary(plan.cfg)}


def print_summary(plan: Plan, summary: dict, path: str) -> None:
    number, metrics = jobs.number, summary["eval_metrics"]
    lines = [
        *jobs.heading_lines("lmpipe pretrain --objective causal", summary),
        *jobs.input_lines(summary, "document"),
        f"ML Metadata       {summary['metadata_path']}",
        f"vocabulary size   {summary['vocab_size']} (byte-level BPE)",
        f"blocks            {summary['blocks']} of {plan.cfg.seq_length} tokens",
        f"eval perplexity   {number(metrics.get('perplexity'), 2)} (token loss "
        f"{number(metrics.get('token_loss'))}, next-token accuracy "
        f"{number(metrics.get('next_token_accuracy'))})",
    ]
    if "start_eval_metrics" in summary:
        start = summary["start_eval_metrics"]
        lines.append(f"starting point    {summary['init_from']}: perplexity "
                     f"{number(start.get('perplexity'), 2)} (blessed only if lower)")
    lines += [
        *jobs.tuning_lines(summary),
        f"blessed           {summary['blessed']}",
        f"pushed model      {summary['pushed_model']}",
        f"wall time         {summary['wall_seconds']} s",
        f"summary           {path}",
    ]
    print("\n".join(lines))

