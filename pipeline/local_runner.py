"""Runs a pipeline on this machine: TFX's LocalDagRunner, SQLite ML Metadata, Beam's
DirectRunner (unless `--beam-runner` names another)."""

import os

from tfx import v1 as tfx

from models.distribute import WORKER_TIMEOUT_ENV


def run_local(pipeline, worker_timeout: int) -> None:
    # The Trainer runs in this process: it reads the multi-worker timeout from the environment
    # (a cluster sets it there too), so that a new timeout does not change its cache key.
    os.environ[WORKER_TIMEOUT_ENV] = str(worker_timeout)
    skip_tfx_sdist_for_local_beam()
    tfx.orchestration.LocalDagRunner().run(pipeline)


def skip_tfx_sdist_for_local_beam() -> None:
    """Every TFX Beam executor builds an sdist of TFX itself (about 2.3 s, six times a run) so
    that remote Beam workers can import TFX. DirectRunner workers share this environment, so
    for it (and only it) the step is skipped; other runners get TFX's behaviour unchanged."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from tfx.utils import dependency_utils

    build_flags = getattr(dependency_utils.make_beam_dependency_flags, "tfx_original",
                          dependency_utils.make_beam_dependency_flags)

    def dependency_flags(beam_pipeline_args):
        runner = PipelineOptions(beam_pipeline_args).view_as(StandardOptions).runner
        if runner in (None, "DirectRunner"):
            return beam_pipeline_args
        return build_flags(beam_pipeline_args)

    dependency_flags.tfx_original = build_flags
    dependency_utils.make_beam_dependency_flags = dependency_flags
