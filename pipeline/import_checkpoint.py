"""The import pipeline definition (`lmpipe import`): a BERT checkpoint to lmpipe's artefacts,
with no training.

checkpoint dir → Importer (lineage: the checkpoint's path) → CheckpointImport (fill-mask
SavedModel + encoder + vocabulary) → Pusher (TF Serving's layout; nothing to bless against)

`starting_point` is the same first two steps, for the pipelines that start from a checkpoint
(continued pretraining, fine-tuning).
"""

from tfx import v1 as tfx

from components.atomic_pusher import AtomicPusher
from components.checkpoint_import.component import CheckpointImport
from components.types import BertCheckpoint
from pipeline.config import ImportConfig
from pipeline.tfx_pipeline import absolute, make_pipeline


def starting_point(path: str, seq_length: int, max_predictions: int, top_k: int,
                   model_name: str):
    """[Importer, CheckpointImport]; the second's outputs are `model` and `vocabulary`."""
    importer = tfx.dsl.Importer(source_uri=absolute(path), artifact_type=BertCheckpoint,
                                ).with_id("checkpoint")
    imported = CheckpointImport(importer.outputs["result"], seq_length=seq_length,
                                max_predictions=max_predictions, top_k=top_k,
                                model_name=model_name)
    return importer, imported


def create_pipeline(cfg: ImportConfig) -> tfx.dsl.Pipeline:
    importer, imported = starting_point(cfg.checkpoint, cfg.seq_length, cfg.max_predictions,
                                        cfg.top_k, cfg.model_name)
    pusher = AtomicPusher(
        model=imported.outputs["model"], custom_config={"max_versions": cfg.max_versions},
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=absolute(cfg.serving_model_dir))),
    ).with_id("Pusher")
    return make_pipeline(cfg, [importer, imported, pusher])
