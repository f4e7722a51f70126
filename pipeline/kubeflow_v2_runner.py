"""Kubeflow Pipelines v2 / Vertex AI Pipelines: the same pipeline definition, compiled with
TFX's KubeflowV2DagRunner into a PipelineJob spec whose every step runs in our image.

Example (after `docker build -t REGION-docker.pkg.dev/PROJECT/REPO/lmpipe:1 .`):

    lmpipe compile --target vertex --output pretrain.json \\
        --image REGION-docker.pkg.dev/PROJECT/REPO/lmpipe:1 \\
        --corpus gs://BUCKET/corpus --run-dir gs://BUCKET/runs/pretrain \\
        --beam-runner DataflowRunner --beam-arg=--project=PROJECT --beam-arg=--region=REGION \\
        --beam-arg=--temp_location=gs://BUCKET/tmp
"""

import os

from pipeline.config import PretrainConfig

TARGETS = ("vertex", "kubeflow")


class CompileError(ValueError):
    """The pipeline cannot be compiled for a cluster as configured; says what to change."""


def compile_pretraining(cfg: PretrainConfig, target: str, output: str, image: str) -> str:
    """Writes the pretraining pipeline (vertex: PipelineJob JSON; kubeflow: PipelineSpec YAML)
    and returns its path. Paths in `cfg` must be reachable from the cluster (gs://, ...)."""
    from tfx import v1 as tfx

    from pipeline import pretrain

    if target not in TARGETS:
        raise CompileError(f"target {target!r}: use vertex or kubeflow.")
    # The runner picks the format from the name: .json = a PipelineJob (what Vertex AI
    # submits), .yaml = a PipelineSpec package (what Kubeflow Pipelines 2.x uploads).
    wanted = {"vertex": (".json",), "kubeflow": (".yaml", ".yml")}[target]
    if not output.endswith(wanted):
        raise CompileError(f"--output {output}: a {target} spec is written as "
                           f"{' or '.join(wanted)}.")
    local = [name for name in ("corpus_dir", "run_dir") if "://" not in getattr(cfg, name)]
    if local:
        raise CompileError(
            f"{', '.join('--' + n.replace('_dir', '').replace('_', '-') for n in local)} "
            "must be a location the cluster reads and writes (e.g. gs://BUCKET/...), not a "
            "local path.")
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=os.path.dirname(os.path.abspath(output)),
        output_filename=os.path.basename(output))
    runner.run(pretrain.create_pipeline(cfg, local=False), write_out=True)
    return os.path.abspath(output)
