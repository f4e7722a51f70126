"""Kubeflow Pipelines v2 / Vertex AI Pipelines: the same pipeline definitions as local runs,
compiled with TFX's KubeflowV2DagRunner into a PipelineJob spec whose every step runs in our
image. Every job compiles (`lmpipe compile --job pretrain|finetune|import`); each job module's
`cluster_plan` makes the checks a compiled pipeline allows here.

Example (after `docker build -t REGION-docker.pkg.dev/PROJECT/REPO/lmpipe:1 .`):

    lmpipe compile --job finetune --target vertex --output finetune.json \\
        --image REGION-docker.pkg.dev/PROJECT/REPO/lmpipe:1 \\
        --data gs://BUCKET/reviews --labels negative,positive \\
        --pretrained gs://BUCKET/runs/pretrain/serving/mlm/1700000000 \\
        --run-dir gs://BUCKET/runs/finetune \\
        --beam-runner DataflowRunner --beam-arg=--project=PROJECT --beam-arg=--region=REGION \\
        --beam-arg=--temp_location=gs://BUCKET/tmp
"""

import os

TARGETS = ("vertex", "kubeflow")


class CompileError(ValueError):
    """The pipeline cannot be compiled for a cluster as configured; says what to change."""


# The config fields that are paths the cluster must read or write, per job.
CLUSTER_PATHS = {"pretrain": ("corpus_dir", "run_dir"), "finetune": ("data", "run_dir", "pretrained"),
                 "import": ("checkpoint", "run_dir")}


def check_target(cfg, job: str, target: str, output: str) -> None:
    """The target and output name, and that every path of the job is a cluster location (a
    URI such as gs://BUCKET/...); raises CompileError."""
    if target not in TARGETS:
        raise CompileError(f"target {target!r}: use vertex or kubeflow.")
    # The runner picks the format from the name: .json = a PipelineJob (what Vertex AI
    # submits), .yaml = a PipelineSpec package (what Kubeflow Pipelines 2.x uploads).
    wanted = {"vertex": (".json",), "kubeflow": (".yaml", ".yml")}[target]
    if not output.endswith(wanted):
        raise CompileError(f"--output {output}: a {target} spec is written as "
                           f"{' or '.join(wanted)}.")
    names = {"corpus_dir": "corpus", "run_dir": "run-dir"}
    local = [names.get(n, n) for n in CLUSTER_PATHS[job]
             if getattr(cfg, n, None) and "://" not in getattr(cfg, n)]
    if local:
        raise CompileError(
            f"{', '.join('--' + n for n in local)} must be a location the cluster reads and "
            "writes (e.g. gs://BUCKET/...), not a local path.")


def compile_pipeline(pipeline, target: str, output: str, image: str) -> str:
    """Writes `pipeline` (built with local=False) for `target` (vertex: PipelineJob JSON;
    kubeflow: PipelineSpec YAML), every step in `image`; returns the file's path."""
    from tfx import v1 as tfx

    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=os.path.dirname(os.path.abspath(output)),
        output_filename=os.path.basename(output))
    runner.run(pipeline, write_out=True)
    return os.path.abspath(output)


def read_vertex_training(path: str, region: str, image: str, strategy: str) -> dict:
    """A Vertex AI CustomJob spec for the Trainer (`--vertex-training FILE.json`: `project` and
    `worker_pool_specs`, as TFX's Vertex Trainer takes them in `ai_platform_training_args`),
    checked against the training strategy; each pool without a container runs `image`.
    Raises CompileError."""
    import json

    try:
        with open(path) as f:
            spec = json.load(f)
    except (OSError, ValueError) as error:
        raise CompileError(f"--vertex-training {path}: cannot be read as JSON ({error})") from None
    if not region:
        raise CompileError("--vertex-training needs --vertex-region (e.g. europe-west4)")
    pools = spec.get("worker_pool_specs") if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or not spec.get("project") or not pools or not isinstance(
            pools, list):
        raise CompileError(f"--vertex-training {path}: give {{\"project\": ..., "
                           "\"worker_pool_specs\": [...]}} (a Vertex AI CustomJob spec)")
    replicas = sum(int(p.get("replica_count", 1)) for p in pools)
    tpu = any(str(p.get("machine_spec", {}).get("accelerator_type", "")).startswith("TPU")
              or p.get("machine_spec", {}).get("machine_type") == "cloud-tpu" for p in pools)
    if tpu and strategy != "tpu":
        raise CompileError(f"--vertex-training {path} asks for a TPU: train with --strategy tpu "
                           f"(not {strategy})")
    if replicas > 1 and not tpu and strategy != "multi_worker":
        raise CompileError(f"--vertex-training {path} starts {replicas} replicas: train with "
                           f"--strategy multi_worker (not {strategy}), which reads the TF_CONFIG "
                           "Vertex sets on each")
    for pool in pools:
        pool.setdefault("container_spec", {}).setdefault("image_uri", image)
    return spec


def train_on_vertex(pipeline, region: str, training_args: dict) -> None:
    """Every Trainer of `pipeline` runs as a Vertex AI CustomJob (TFX's Vertex Trainer
    extension, tfx/extensions/google_cloud_ai_platform/trainer/executor.py): Vertex starts the
    job's replicas and sets TF_CONFIG on each; the run_fn and its settings are unchanged. A
    Tuner (`--tune`) runs as TFX's Vertex Tuner extension (components/tuner/vertex.py) on the
    same CustomJob spec: its primary replica serves the oracle, `--tuner-workers` replicas run
    trials."""
    import json

    from tfx.dsl.components.base import executor_spec
    from tfx.extensions.google_cloud_ai_platform import constants
    from tfx.extensions.google_cloud_ai_platform.trainer import executor as vertex
    from tfx.extensions.google_cloud_ai_platform.tuner import executor as vertex_tuner
    from tfx.components import Trainer

    from components.tuner import Tuner
    from components.tuner.vertex import VertexExecutor

    for component in pipeline.components:
        if isinstance(component, Trainer):
            executor, key, args = vertex.GenericExecutor, vertex.TRAINING_ARGS_KEY, training_args
        elif isinstance(component, Tuner):
            executor, key = VertexExecutor, vertex_tuner.TUNING_ARGS_KEY
            args = {"project": training_args["project"],
                    "job_spec": {"worker_pool_specs": training_args["worker_pool_specs"]}}
        else:
            continue
        component.executor_spec = executor_spec.ExecutorClassSpec(executor)
        config = json.loads(component.exec_properties.get("custom_config") or "{}")
        config.update({constants.ENABLE_VERTEX_KEY: True, constants.VERTEX_REGION_KEY: region,
                       key: args})
        component.exec_properties["custom_config"] = json.dumps(config, sort_keys=True)
