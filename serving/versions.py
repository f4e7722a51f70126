"""Model versions in a serving directory, in TF Serving's layout `<dir>/<model>/<version>/`.

TF Serving's file-system poller serves the numeric subdirectories of a model's base path and
ignores anything else, so lmpipe keeps its own bookkeeping in hidden, non-numeric names:
`.incoming-<version>` while a push is being copied, `.retired/<version>` after a rollback.

Example:

>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> for v in ("1", "2", ".incoming-3"):
...     os.makedirs(os.path.join(root, "clf", v))
>>> versions(os.path.join(root, "clf"))
[1, 2]
"""

import os
import shutil
from typing import Dict, List, Optional

import tensorflow as tf

INCOMING_PREFIX = ".incoming-"
RETIRED_DIR = ".retired"


class ServingDirError(ValueError):
    """A serving directory, model or version is missing or unusable; says what to do."""


def versions(model_dir: str) -> List[int]:
    """The version numbers TF Serving sees under a model's base path, ascending."""
    if not tf.io.gfile.isdir(model_dir):
        return []
    found = [name.rstrip("/") for name in tf.io.gfile.listdir(model_dir)]
    return sorted(int(name) for name in found
                  if name.isdigit() and tf.io.gfile.isdir(os.path.join(model_dir, name)))


def models(serving_dir: str) -> Dict[str, List[int]]:
    """{model name: versions} for every model under `serving_dir` with at least one version."""
    if not tf.io.gfile.isdir(serving_dir):
        raise ServingDirError(f"serving directory {serving_dir} does not exist; push a model "
                              "first (lmpipe pretrain / finetune) or check the path.")
    found = {}
    for name in sorted(n.rstrip("/") for n in tf.io.gfile.listdir(serving_dir)):
        model_versions = versions(os.path.join(serving_dir, name))
        if model_versions:
            found[name] = model_versions
    if not found:
        raise ServingDirError(f"no model versions under {serving_dir}: expected "
                              "<model>/<numeric version>/saved_model.pb (TF Serving's layout).")
    return found


def resolve_version_dir(path: str, version: Optional[int] = None) -> str:
    """A SavedModel directory from a version directory, or a model base path (its latest
    version, or `version`)."""
    if tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        return path
    model_versions = versions(path)
    if not model_versions:
        raise ServingDirError(f"{path} has no saved_model.pb and no numeric version "
                              "directories: give a pushed model (<serving dir>/<model>) or one "
                              "of its versions.")
    chosen = version if version is not None else model_versions[-1]
    if chosen not in model_versions:
        raise ServingDirError(f"{path} has no version {chosen}; it has {model_versions}.")
    return os.path.join(path, str(chosen))


def publish(source_dir: str, model_dir: str, version: int) -> str:
    """Copies a SavedModel to `<model_dir>/<version>` atomically for a polling server: the copy
    goes to `.incoming-<version>` and is renamed into place only when complete, so a server
    never sees a half-written version. Leftovers of an interrupted push are removed first."""
    target = os.path.join(model_dir, str(version))
    if tf.io.gfile.exists(target):
        raise ServingDirError(f"version {version} already exists in {model_dir}; versions are "
                              "never overwritten.")
    tf.io.gfile.makedirs(model_dir)
    clean_incoming(model_dir)
    incoming = os.path.join(model_dir, f"{INCOMING_PREFIX}{version}")
    _copy_tree(source_dir, incoming)
    tf.io.gfile.rename(incoming, target)  # atomic on a local or POSIX file system
    return target


def clean_incoming(model_dir: str) -> List[str]:
    """Removes partial copies left by interrupted pushes; returns what it removed."""
    removed = []
    for name in tf.io.gfile.listdir(model_dir):
        if name.rstrip("/").startswith(INCOMING_PREFIX):
            path = os.path.join(model_dir, name.rstrip("/"))
            tf.io.gfile.rmtree(path)
            removed.append(path)
    return removed


def _copy_tree(source: str, target: str) -> None:
    for directory, _, files in tf.io.gfile.walk(source):
        relative = os.path.relpath(directory, source)
        out_dir = os.path.normpath(os.path.join(target, relative))
        tf.io.gfile.makedirs(out_dir)
        for name in files:
            tf.io.gfile.copy(os.path.join(directory, name), os.path.join(out_dir, name))


def prune(model_dir: str, keep: int, protect=()) -> List[int]:
    """Deletes all but the newest `keep` versions (never one in `protect`, e.g. a version that
    a `stable` label points at); returns the deleted versions."""
    if keep < 1:
        raise ServingDirError(f"keep={keep}: keep at least one version.")
    old = versions(model_dir)[:-keep]
    deleted = [v for v in old if v not in set(protect)]
    for v in deleted:
        tf.io.gfile.rmtree(os.path.join(model_dir, str(v)))
    return deleted


def rollback(model_dir: str, to_version: int) -> List[int]:
    """Makes `to_version` the latest version TF Serving sees: every newer version moves to
    `.retired/` (not deleted, so a later rollback can bring it back). A retired `to_version`
    is restored first. Returns the versions retired."""
    retired_dir = os.path.join(model_dir, RETIRED_DIR)
    retired_copy = os.path.join(retired_dir, str(to_version))
    if to_version not in versions(model_dir):
        if not tf.io.gfile.isdir(retired_copy):
            raise ServingDirError(f"{model_dir} has no version {to_version} (it has "
                                  f"{versions(model_dir)}, retired: {retired(model_dir)}).")
        tf.io.gfile.rename(retired_copy, os.path.join(model_dir, str(to_version)))
    newer = [v for v in versions(model_dir) if v > to_version]
    tf.io.gfile.makedirs(retired_dir)
    for v in newer:
        destination = os.path.join(retired_dir, str(v))
        if tf.io.gfile.exists(destination):
            shutil.rmtree(destination)
        tf.io.gfile.rename(os.path.join(model_dir, str(v)), destination)
    return newer


def retired(model_dir: str) -> List[int]:
    return versions(os.path.join(model_dir, RETIRED_DIR))
