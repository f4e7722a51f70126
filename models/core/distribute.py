"""`tf.distribute` by name, TF_CONFIG checks, and the batch plan: one place for global batch,
per-replica batch, gradient accumulation and learning-rate scaling.

Example:

>>> plan = batch_plan(batch_size=64, grad_accum_steps=4, num_replicas=2, learning_rate=1e-3,
...                   base_batch_size=128, lr_scaling="linear")
>>> plan.per_replica_batch, plan.effective_batch, plan.learning_rate
(32, 256, 0.002)
"""

import dataclasses
import json
import os
import socket
import subprocess
import sys
from typing import Optional

import tensorflow as tf
from absl import logging


class DistributeError(ValueError):
    """The distribution setup (TF_CONFIG, devices, batch size) cannot work; says what to fix."""


# -- the batch plan -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class BatchPlan:
    global_batch: int  # examples per step, over all replicas (the tf.data batch size)
    per_replica_batch: int
    grad_accum_steps: int  # steps per optimizer update
    effective_batch: int  # examples per optimizer update
    learning_rate: float  # peak rate, scaled to the effective batch


def batch_plan(batch_size: int, grad_accum_steps: int, num_replicas: int, learning_rate: float,
               base_batch_size: Optional[int] = None, lr_scaling: str = "linear") -> BatchPlan:
    """`learning_rate` is the peak rate at `base_batch_size` (None: at the effective batch);
    `linear` scales it by effective/base (Goyal et al. 2017), `sqrt` by its square root."""
    if batch_size % num_replicas:
        raise DistributeError(
            f"batch_size={batch_size} is the global batch and must divide evenly over the "
            f"{num_replicas} replicas of the strategy; use a multiple of {num_replicas}, e.g. "
            f"--batch-size {num_replicas * max(1, round(batch_size / num_replicas))}.")
    effective = batch_size * grad_accum_steps
    ratio = effective / (base_batch_size or effective)
    scale = {"none": 1.0, "linear": ratio, "sqrt": ratio ** 0.5}[lr_scaling]
    return BatchPlan(global_batch=batch_size, per_replica_batch=batch_size // num_replicas,
                     grad_accum_steps=grad_accum_steps, effective_batch=effective,
                     learning_rate=learning_rate * scale)


# -- TF_CONFIG ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Cluster:
    workers: list  # "host:port" of every training task, the chief first
    task_type: str  # "chief" or "worker"
    task_index: int
    has_chief_job: bool  # else worker 0 acts as chief

    @property
    def rank(self) -> int:
        return self.task_index + (1 if self.task_type == "worker" and self.has_chief_job else 0)

    @property
    def is_chief(self) -> bool:
        return self.rank == 0


def read_tf_config(environ=os.environ) -> Cluster:
    """Parses and checks TF_CONFIG for MultiWorkerMirroredStrategy; names what is wrong."""
    text = environ.get("TF_CONFIG")
    if not text:
        raise DistributeError("strategy multi_worker needs TF_CONFIG in the environment, e.g. "
                              'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                              '"task": {"type": "worker", "index": 0}}\' on the first worker.')
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise DistributeError(f"TF_CONFIG is not valid JSON ({e}).") from None
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise DistributeError("TF_CONFIG needs a 'cluster' object (job name -> addresses) and a "
                              "'task' object ({'type': ..., 'index': ...}).")
    chiefs, workers = list(cluster.get("chief", [])), list(cluster.get("worker", []))
    if not chiefs and not workers:
        raise DistributeError(
            f"TF_CONFIG names no chief: its cluster has jobs {sorted(cluster)} but neither a "
            "'chief' job nor a 'worker' job (whose task 0 acts as chief). Add one.")
    if len(chiefs) > 1:
        raise DistributeError(f"TF_CONFIG names {len(chiefs)} chiefs ({chiefs}); there must be one.")
    task_type, task_index = task.get("type"), task.get("index", 0)
    if task_type not in ("chief", "worker"):
        raise DistributeError(f"TF_CONFIG task type {task_type!r}: training tasks are 'chief' or "
                              "'worker'.")
    jobs = {"chief": chiefs, "worker": workers}
    if not isinstance(task_index, int) or not 0 <= task_index < len(jobs[task_type]):
        raise DistributeError(f"TF_CONFIG task index {task_index!r} is not in the cluster's "
                              f"{task_type!r} job ({len(jobs[task_type])} tasks).")
    everyone = chiefs + workers
    for address in everyone:
        host, _, port = str(address).rpartition(":")
        if not host or not port.isdigit():
            raise DistributeError(f"TF_CONFIG address {address!r} is not HOST:PORT.")
        try:
            socket.getaddrinfo(host, int(port))
        except socket.gaierror as e:
            raise DistributeError(f"TF_CONFIG worker {address!r} is unreachable: its host does "
                                  f"not resolve ({e.strerror}).") from None
    return Cluster(workers=everyone, task_type=task_type, task_index=task_index,
                   has_chief_job=bool(chiefs))


def num_workers(environ=os.environ) -> int:
    return len(read_tf_config(environ).workers)


# -- strategies ------------------------------------------------------------------------------

def configure_devices(strategy: str, cpu_replicas: int = 1) -> None:
    """For `mirrored` on a machine without GPUs, splits the CPU into `cpu_replicas` logical
    devices (one replica each). Must run before TensorFlow initialises its devices."""
    if strategy != "mirrored" or cpu_replicas <= 1 or tf.config.list_physical_devices("GPU"):
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration()] * cpu_replicas
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:  # already initialised: fine if it already has the devices
        have = len(tf.config.list_logical_devices("CPU"))
        if have != cpu_replicas:
            raise DistributeError(
                f"cpu_replicas={cpu_replicas}, but TensorFlow already started with {have} CPU "
                "device(s) in this process; set it when the process starts (lmpipe does this "
                "for its own runs).") from None


def expected_replicas(strategy: str, cpu_replicas: int = 1, environ=os.environ) -> Optional[int]:
    """The number of replicas a strategy will have, known before it starts (None for TPU)."""
    gpus = len(tf.config.list_physical_devices("GPU"))
    if strategy == "default":
        return 1
    if strategy == "mirrored":
        return gpus or cpu_replicas
    if strategy == "multi_worker":
        return num_workers(environ) * max(gpus, 1)
    return None


# How long `multi_worker` waits for its peers: like TF_CONFIG, a property of the cluster the
# Trainer runs in, so it comes from the environment and not from the Trainer's settings (a new
# timeout must not retrain a model). `lmpipe --worker-timeout` sets it for local runs.
WORKER_TIMEOUT_ENV = "LMPIPE_WORKER_TIMEOUT"
DEFAULT_WORKER_TIMEOUT = 300


def worker_timeout(environ=os.environ) -> float:
    return float(environ.get(WORKER_TIMEOUT_ENV) or DEFAULT_WORKER_TIMEOUT)


def make_strategy(name: str = "default", cpu_replicas: int = 1) -> tf.distribute.Strategy:
    """`default` (one device), `mirrored` (all local GPUs, else `cpu_replicas` logical CPUs),
    `multi_worker` (TF_CONFIG; every peer must answer within `$LMPIPE_WORKER_TIMEOUT` seconds,
    default 300) or `tpu` (TPU cluster resolver from the environment)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        configure_devices(name, cpu_replicas)
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
            [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        cluster = read_tf_config()
        watchdog = watch_peers(cluster, worker_timeout())
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        watchdog.terminate()
        _fix_keras_multi_worker_logs()
        logging.info("multi_worker: %d replicas (this task %s:%d, %s)",
                     strategy.num_replicas_in_sync, cluster.task_type, cluster.task_index,
                     "chief" if cluster.is_chief else "worker")
        return strategy
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise DistributeError(f"unknown strategy {name!r}; use default, mirrored, multi_worker or tpu")


def watch_peers(cluster: Cluster, timeout: float) -> subprocess.Popen:
    """MultiWorkerMirroredStrategy waits for its peers without a time limit, holding the GIL.
    This watchdog process checks that every other worker's port opens within `timeout`
    seconds; if one does not, it says which and kills this process instead of leaving it
    hanging. Terminate the returned process once the strategy is up."""
    own = cluster.workers[cluster.rank]
    peers = [a for a in cluster.workers if a != own]
    return subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(timeout),
                             *peers])


_WATCHDOG = """
import os, signal, socket, sys, time
parent, timeout, pending = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
def up(address):
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False
deadline = time.monotonic() + timeout
while pending:
    pending = [a for a in pending if not up(a)]
    if pending and time.monotonic() > deadline:
        print(f"lmpipe: error: TF_CONFIG worker(s) {', '.join(pending)} unreachable: no answer "
              f"within {timeout:g} s. Start every worker, check the addresses and firewall, or "
              "raise --worker-timeout. Stopping this worker.", file=sys.stderr, flush=True)
        os.kill(parent, signal.SIGKILL)  # the strategy ignores SIGTERM (preemption handling)
        sys.exit(2)
    time.sleep(0.5)
"""


def _fix_keras_multi_worker_logs() -> None:
    """Keras 3.12 reduces each step's logs over workers with `strategy.reduce("MEAN", v,
    axis=0)`, which fails for the scalar loss and metrics ("Invalid reduction dimension 0 for
    input with 0 dimensions"). Reduce scalars with axis=None (the mean over all replicas)."""
    from keras.src.backend.tensorflow import trainer as tf_trainer
    from keras.src import tree

    original = tf_trainer.reduce_per_replica
    if getattr(original, "lmpipe_fixed", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
            def mean(v):
                rank = len(strategy.experimental_local_results(v)[0].shape)
                return strategy.reduce("MEAN", v, axis=0 if rank else None)
            return tree.map_structure(mean, values)
        return original(values, strategy, reduction)

    reduce_per_replica.lmpipe_fixed = True
    tf_trainer.reduce_per_replica = reduce_per_replica
