"""Stops a run on data anomalies found by TFX's ExampleValidator.

TFX 1.16's ExampleValidator only *writes* anomalies (one binary `Anomalies` proto per split,
`<uri>/Split-<name>/SchemaDiff.pb`); the pipeline carries on regardless. Components that must
not train on bad data call `raise_if_anomalous` first.
"""

import os
from typing import List

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils

# tfx/components/example_validator/executor.py: DEFAULT_FILE_NAME
ANOMALIES_FILE = "SchemaDiff.pb"
_SPLIT_PREFIX = "Split-"
_FIX = "fix the data, or the schema if the data is right (schemas/)"


class DataValidationError(RuntimeError):
    """ExampleValidator found anomalies in the data."""


def _split_names(artifact) -> List[str]:
    names = []
    try:
        if artifact.split_names:
            names = list(artifact_utils.decode_split_names(artifact.split_names))
    except Exception:  # split_names not set on this artifact
        names = []
    if not names and fileio.isdir(artifact.uri):
        names = sorted(n.rstrip("/")[len(_SPLIT_PREFIX):] for n in fileio.listdir(artifact.uri)
                       if n.startswith(_SPLIT_PREFIX))
    return names


def load_anomalies(anomalies_artifact) -> dict:
    """Returns {split name: Anomalies proto} as written by TFX 1.16's ExampleValidator."""
    result = {}
    for split in _split_names(anomalies_artifact):
        path = os.path.join(anomalies_artifact.uri, _SPLIT_PREFIX + split, ANOMALIES_FILE)
        if not fileio.exists(path):
            raise DataValidationError(
                f"anomalies artifact {anomalies_artifact.uri} lists split '{split}' but has no "
                f"{path}; re-run ExampleValidator")
        result[split] = anomalies_pb2.Anomalies.FromString(io_utils.read_bytes_file(path))
    return result


def describe(split: str, anomalies: anomalies_pb2.Anomalies) -> List[str]:
    """One line per problem in a split's Anomalies proto; empty when the split is clean."""
    lines = []
    if anomalies.data_missing:
        lines.append(f"split '{split}': data missing (no examples)")
    for feature, info in sorted(anomalies.anomaly_info.items()):
        short = info.short_description or "; ".join(r.short_description for r in info.reason)
        long = info.description or "; ".join(r.description for r in info.reason)
        lines.append(f"split '{split}': feature '{feature}': {short}: {long}")
    dataset = anomalies.dataset_anomaly_info
    if anomalies.HasField("dataset_anomaly_info") and (dataset.reason or dataset.description):
        short = dataset.short_description or "; ".join(r.short_description for r in dataset.reason)
        long = dataset.description or "; ".join(r.description for r in dataset.reason)
        lines.append(f"split '{split}': dataset: {short}: {long}")
    return lines


def raise_if_anomalous(anomalies_artifact) -> None:
    """Raises DataValidationError listing every anomaly of every split; returns if none."""
    problems = []
    for split, anomalies in load_anomalies(anomalies_artifact).items():
        problems.extend(describe(split, anomalies))
    if problems:
        raise DataValidationError(
            f"ExampleValidator found {len(problems)} anomal{'y' if len(problems) == 1 else 'ies'} "
            f"({anomalies_artifact.uri}):\n  - " + "\n  - ".join(problems)
            + f"\nStopping before any work: {_FIX}.")
