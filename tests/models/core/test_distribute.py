"""Strategy, TF_CONFIG and batch-plan checks: clear errors before any work starts."""

import json
import socket
import subprocess
import sys

import pytest

from models.core import distribute
from tests.conftest import REPO


def test_batch_plan_splits_the_global_batch_and_scales_the_learning_rate():
    plan = distribute.batch_plan(64, grad_accum_steps=4, num_replicas=2, learning_rate=1e-3,
                                 base_batch_size=128, lr_scaling="linear")
    assert (plan.global_batch, plan.per_replica_batch, plan.effective_batch) == (64, 32, 256)
    assert plan.learning_rate == pytest.approx(2e-3)
    sqrt = distribute.batch_plan(64, 4, 2, 1e-3, base_batch_size=64, lr_scaling="sqrt")
    assert sqrt.learning_rate == pytest.approx(2e-3)
    as_given = distribute.batch_plan(64, 4, 2, 1e-3)  # no base batch: the rate is taken as given
    assert as_given.learning_rate == pytest.approx(1e-3)


def test_batch_not_divisible_by_replicas_names_a_fix():
    with pytest.raises(distribute.DistributeError, match=r"batch_size=30 .* 4 replicas.*--batch-size 32"):
        distribute.batch_plan(30, 1, 4, 1e-3)


def tf_config(cluster, task_type="worker", index=0):
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


def test_tf_config_chief_and_ranks():
    env = tf_config({"chief": ["localhost:1000"], "worker": ["localhost:1001", "localhost:1002"]},
                    "worker", 1)
    cluster = distribute.read_tf_config(env)
    assert cluster.workers == ["localhost:1000", "localhost:1001", "localhost:1002"]
    assert cluster.rank == 2 and not cluster.is_chief
    assert distribute.read_tf_config(tf_config({"worker": ["localhost:1", "localhost:2"]})).is_chief


@pytest.mark.parametrize("environ, message", [
    ({}, "needs TF_CONFIG"),
    ({"TF_CONFIG": "{not json"}, "not valid JSON"),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["localhost:1"]}})}, "'task' object"),
    (tf_config({"ps": ["localhost:1"]}, "ps"), "names no chief"),
    (tf_config({"chief": ["localhost:1", "localhost:2"]}, "chief"), "2 chiefs"),
    (tf_config({"worker": ["localhost:1"]}, "worker", 3), "task index 3"),
    (tf_config({"worker": ["localhost"]}), "not HOST:PORT"),
    (tf_config({"worker": ["localhost:1", "no-such-host.invalid:2"]}), "unreachable"),
])
def test_bad_tf_config_is_named(environ, message):
    with pytest.raises(distribute.DistributeError, match=message):
        distribute.read_tf_config(environ)


UNREACHABLE_PEER = """
import json, os, sys
sys.path.insert(0, {repo!r})
os.environ["TF_CONFIG"] = json.dumps({{"cluster": {{"worker": ["localhost:{me}", "localhost:{peer}"]}},
                                      "task": {{"type": "worker", "index": 0}}}})
os.environ["LMPIPE_WORKER_TIMEOUT"] = "5"
from models.core import distribute
distribute.make_strategy("multi_worker")
print("the strategy started without its peer")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_multi_worker_unreachable_peer_is_a_clear_error_not_a_hang():
    peer = free_port()
    script = UNREACHABLE_PEER.format(repo=REPO, me=free_port(), peer=peer)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=240)
    assert result.returncode != 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "the strategy started" not in result.stdout
    assert f"TF_CONFIG worker(s) localhost:{peer} unreachable" in result.stderr
