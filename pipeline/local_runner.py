"""Runs a pipeline on this machine: TFX's LocalDagRunner, SQLite ML Metadata, Beam's
DirectRunner (unless `--beam-runner` names another)."""

import os

from tfx import v1 as tfx

from models.core.distribute import WORKER_TIMEOUT_ENV


def run_local(pipeline, worker_timeout: int) -> None:
    # The Trainer runs in this process: it reads the multi-worker timeout from the environment
    # (a cluster sets it there too), so that a new timeout does not change its cache key.
    os.environ[WORKER_TIMEOUT_ENV] = str(worker_timeout)
    skip_tfx_sdist_for_local_beam()
    tfx.orchestration.LocalDagRunner().run(pipeline)


def skip_tfx_sdist_for_local_beam() -> None:
    """Every TFX Beam executor builds an sdist of TFX itself (about 2.3 s, six times a run) so
    that remote Beam workers can pip-install TFX. DirectRunner workers share this environment,
    and a portable runner's LOOPBACK, EXTERNAL or PROCESS workers run in one you prepared (a
    worker pool started from lmpipe's environment or image), so for those the step is skipped
    (pipeline/beam_options.py: `stages_tfx_sdist`); the others are refused without an image or
    --extra_packages before any work, so TFX never stages its sdist for an lmpipe run."""
    from tfx.utils import dependency_utils

    from pipeline import beam_options

    build_flags = getattr(dependency_utils.make_beam_dependency_flags, "tfx_original",
                          dependency_utils.make_beam_dependency_flags)

    def dependency_flags(beam_pipeline_args):
        if not beam_options.stages_tfx_sdist(beam_pipeline_args):
            return beam_pipeline_args
        return build_flags(beam_pipeline_args)

    dependency_flags.tfx_original = build_flags
    dependency_utils.make_beam_dependency_flags = dependency_flags
