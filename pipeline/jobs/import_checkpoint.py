"""The import job (`lmpipe import`): a BERT or GPT-2 checkpoint to lmpipe's artefacts, with no
training; its pipeline, pre-flight check and summary (pipeline/jobs/__init__.py runs it).

checkpoint dir → Importer (lineage: the checkpoint's path) → CheckpointImport (fill-mask
SavedModel + encoder + vocabulary; a GPT-2 checkpoint: CausalCheckpointImport, the generation
SavedModel) → Pusher (TF Serving's layout; nothing to bless against)

`starting_point` is the same first two steps, for the pipelines that start from a checkpoint
(continued pretraining, fine-tuning).
"""

import dataclasses

from tfx import v1 as tfx

from components.atomic_pusher import AtomicPusher
from components.checkpoint_import.component import CheckpointImport
from components.types import BertCheckpoint, WordPieceVocab
from pipeline import jobs
from pipeline.config import ConfigError, ImportConfig
from pipeline.tfx_pipeline import absolute, make_pipeline


def starting_point(path: str, seq_length: int, max_predictions: int, top_k: int,
                   model_name: str, qa_settings: str = ""):
    """[Importer, CheckpointImport]; the second's outputs are `model` and `vocabulary`.
    `qa_settings`: a question-answering checkpoint's serving settings (JSON of
    QuestionAnsweringSettings fields)."""
    importer = tfx.dsl.Importer(source_uri=absolute(path), artifact_type=BertCheckpoint,
                                ).with_id("checkpoint")
    imported = CheckpointImport(importer.outputs["result"], seq_length=seq_length,
                                max_predictions=max_predictions, top_k=top_k,
                                model_name=model_name, qa_settings=qa_settings)
    return importer, imported


def fine_tuning_start(pretrained, seq_length: int, qa_settings: str = ""):
    """Where a fine-tuning job starts: a checkpoint from elsewhere imported first
    (`starting_point`: lmpipe's model of it), or an lmpipe model's vocabulary and model by
    Importers. Returns (the steps, in pipeline order; the vocabulary channel; the base model
    channel)."""
    if pretrained.needs_import:
        start = list(starting_point(pretrained.model_uri, seq_length, min(20, seq_length - 2), 5,
                                    "mlm", qa_settings))
        return start, start[-1].outputs["vocabulary"], start[-1].outputs["model"]
    start = [tfx.dsl.Importer(source_uri=pretrained.encoder_dir, artifact_type=WordPieceVocab,
                              ).with_id("pretrained_vocabulary"),
             tfx.dsl.Importer(source_uri=pretrained.model_uri,
                              artifact_type=tfx.types.standard_artifacts.Model,
                              ).with_id("pretrained_model")]
    return start, start[0].outputs["result"], start[1].outputs["result"]


def create_pipeline(cfg: ImportConfig, gpt2: bool = False, local: bool = True) -> tfx.dsl.Pipeline:
    if gpt2:
        from pipeline.jobs import causal_lm

        importer, imported = causal_lm.starting_point(cfg.checkpoint, cfg.seq_length,
                                                      cfg.model_name, cfg.max_new_tokens)
    else:
        importer, imported = starting_point(cfg.checkpoint, cfg.seq_length, cfg.max_predictions,
                                            cfg.top_k, cfg.model_name, qa_settings(cfg))
    pusher = AtomicPusher(
        model=imported.outputs["model"], custom_config={"max_versions": cfg.max_versions},
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=absolute(cfg.serving_model_dir))),
    ).with_id("Pusher")
    return make_pipeline(cfg, [importer, imported, pusher], local=local)


def qa_settings(cfg: ImportConfig) -> str:
    """The answer search's settings a question-answering checkpoint is served with (JSON)."""
    import json

    return json.dumps({"seq_length": cfg.seq_length, "doc_stride": cfg.doc_stride,
                       "max_query_length": cfg.max_query_length,
                       "max_answer_length": cfg.max_answer_length, "top_k": cfg.top_k,
                       "model_name": cfg.model_name}, sort_keys=True)


# -- the job: pre-flight, summary ---------------------------------------------------------------

JOB = "import"  # the summary file's key
INPUT_ERRORS = (ConfigError,)


@dataclasses.dataclass
class Plan:
    cfg: ImportConfig
    checkpoint: object  # models.checkpoints.huggingface.Checkpoint (or GPT2Checkpoint): what was found
    gpt2: bool = False


def preflight(cfg: ImportConfig, given=frozenset()) -> Plan:
    """The checkpoint's format and files (raises ConfigError). A fine-tuned classifier is
    served as `classifier` (a token classifier as `token_classifier`), a GPT-2 as `clm`, unless
    --model-name is given."""
    from models.checkpoints import gpt2 as gpt2_checkpoint

    if gpt2_checkpoint.is_gpt2(cfg.checkpoint):
        from pipeline.jobs import causal_lm

        if "seq_length" not in given:  # the checkpoint's own positions
            start = causal_lm.check_gpt2(cfg.checkpoint, "--checkpoint", 1)
            cfg = dataclasses.replace(cfg, seq_length=start.positions)
        start = causal_lm.check_gpt2(cfg.checkpoint, "--checkpoint", cfg.seq_length)
        cfg = dataclasses.replace(cfg, checkpoint=start.path,
                                  model_name=cfg.model_name if "model_name" in given else "clm")
        return Plan(cfg, start, gpt2=True)
    ckpt = jobs.check_checkpoint(cfg.checkpoint, "--checkpoint", cfg.seq_length)
    cfg = dataclasses.replace(cfg, checkpoint=ckpt.path)
    if ckpt.task == "question-answering":
        # Hugging Face's question-answering pipeline's window: 384 pieces (at most the
        # checkpoint's positions), unless --seq-length is given.
        if "seq_length" not in given:
            cfg = dataclasses.replace(cfg, seq_length=min(384, ckpt.max_sequence_length))
        if "model_name" not in given:
            cfg = dataclasses.replace(cfg, model_name="question_answering")
        check_qa_settings(cfg)
    if ckpt.classes and "model_name" not in given:
        cfg = dataclasses.replace(cfg, model_name="classifier" if ckpt.task ==
                                  "text-classification" else "token_classifier")
    return Plan(cfg, ckpt)


def check_qa_settings(cfg: ImportConfig) -> None:
    """The question-answering settings' own rules (models/question_answering/settings.py)."""
    from models.question_answering.settings import QuestionAnsweringSettings

    QuestionAnsweringSettings(seq_length=cfg.seq_length, doc_stride=cfg.doc_stride,
                              max_query_length=cfg.max_query_length,
                              max_answer_length=cfg.max_answer_length, top_k=cfg.top_k,
                              model_name=cfg.model_name)


def cluster_plan(cfg: ImportConfig, given=frozenset()) -> Plan:
    """`lmpipe compile --job import`: the checkpoint is a cluster path; whether it is a GPT-2
    is read from its config.json with tf.io.gfile, and the pipeline's import component checks
    the rest there, before anything is pushed. Served as `mlm` (a GPT-2 as `clm`) unless
    --model-name is given."""
    from models.checkpoints import gpt2 as gpt2_checkpoint

    try:
        gpt2 = gpt2_checkpoint.is_gpt2(cfg.checkpoint)
    except gpt2_checkpoint.CheckpointError as error:
        raise ConfigError(f"--checkpoint: {error}") from None
    if gpt2 and "model_name" not in given:
        cfg = dataclasses.replace(cfg, model_name="clm")
    return Plan(cfg, None, gpt2=gpt2)


def build(plan: Plan, local: bool = True) -> tfx.dsl.Pipeline:
    return create_pipeline(plan.cfg, plan.gpt2, local=local)


def summarize(plan: Plan) -> dict:
    from pipeline import run_summary

    ckpt = plan.checkpoint
    if plan.gpt2:
        return {**run_summary.import_summary(plan.cfg), "warnings": [], "task": "causal_lm",
                "classes": [], "pooling": None, "positions": ckpt.positions}
    return {**run_summary.import_summary(plan.cfg), "warnings": list(ckpt.warnings),
            "task": (ckpt.task.replace("-", "_") if ckpt.classes or ckpt.task
                     else "masked_lm"),
            "classes": list(ckpt.classes), "pooling": ckpt.pooling}


def print_summary(plan: Plan, summary: dict, path: str) -> None:
    ckpt = plan.checkpoint
    if plan.gpt2:
        print("\n".join([
            "",
            "== lmpipe import: summary ==",
            f"checkpoint        {ckpt.path} ({ckpt.format} GPT-2: {ckpt.num_layers} layers, "
            f"hidden {ckpt.hidden_dim}, {ckpt.positions} positions)",
            f"vocabulary        {ckpt.vocab_size} tokens, byte-level BPE",
            f"served as         text generation (serving_default: prompt -> text; generate; "
            f"score), {plan.cfg.max_new_tokens} new tokens by default",
            f"model             {summary['model']}",
            f"ML Metadata       {summary['metadata_path']}",
            f"pushed model      {summary['pushed_model']}",
            f"wall time         {summary['wall_seconds']} s",
            f"summary           {path}",
        ]))
        return
    if ckpt.task == "question-answering":
        cfg = plan.cfg
        head = ("none: a fine-tuned question-answering model, served as one (answers with "
                "character offsets from raw questions and contexts): its span head (qa_outputs); "
                f"windows of {cfg.seq_length} pieces overlapping by {cfg.doc_stride}, questions "
                f"cut to {cfg.max_query_length}, answers up to {cfg.max_answer_length} pieces, "
                f"top {cfg.top_k}")
    elif ckpt.task == "token-classification":
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
