"""TF Serving's `models.config` (a ModelServerConfig text proto) for a serving directory.

Example:

>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> for v in ("1", "2", "3"):
...     os.makedirs(os.path.join(root, "classifier", v))
>>> config = model_server_config(root, latest=2, labels={"stable": 2, "canary": 3},
...                              base_path="/models")
>>> print(config.model_config_list.config[0].base_path)
/models/classifier
"""

import os
from typing import Dict, Optional, Sequence

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving import versions as serving_versions


def model_server_config(serving_dir: str, latest: Optional[int] = None,
                        specific: Sequence[int] = (), labels: Optional[Dict[str, int]] = None,
                        base_path: Optional[str] = None,
                        model_names: Sequence[str] = ()) -> model_server_config_pb2.ModelServerConfig:
    """One `config` entry per model under `serving_dir` (or `model_names`), each with a version
    policy: the `latest` N versions (default 1), or `specific` versions. `labels`
    (e.g. {"stable": 3, "canary": 4}) name versions for clients; TF Serving only accepts a
    label on a version it serves, so labelled versions are added to the served ones.
    `base_path` replaces `serving_dir` in the paths (where the server sees it, e.g. /models in
    the tensorflow/serving container)."""
    found = serving_versions.models(serving_dir)
    names = list(model_names) or list(found)
    config = model_server_config_pb2.ModelServerConfig()
    for name in names:
        if name not in found:
            raise serving_versions.ServingDirError(
                f"no model {name!r} under {serving_dir} (it has {', '.join(found)}).")
        have = found[name]
        entry = config.model_config_list.config.add()
        entry.name = name
        entry.base_path = os.path.join(base_path or os.path.abspath(serving_dir), name)
        entry.model_platform = "tensorflow"
        wanted = set(specific)
        for label, version in (labels or {}).items():
            if version not in have:
                raise serving_versions.ServingDirError(
                    f"label {label}={version}: {name} has no version {version} (it has {have}).")
            entry.version_labels[label] = version
        missing = sorted(wanted - set(have))
        if missing:
            raise serving_versions.ServingDirError(
                f"{name} has no version(s) {missing} (it has {have}).")
        if wanted:
            entry.model_version_policy.specific.versions.extend(
                sorted(wanted | set((labels or {}).values())))
        elif labels:
            served = set(have[-(latest or 1):]) | set(labels.values())
            entry.model_version_policy.specific.versions.extend(sorted(served))
        else:
            entry.model_version_policy.latest.num_versions = latest or 1
    return config


def to_text(config) -> str:
    return text_format.MessageToString(config)


def parse(text: str) -> model_server_config_pb2.ModelServerConfig:
    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
