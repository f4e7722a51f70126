"""TextExampleGen: a FileBasedExampleGen over a directory of plain-text files."""

from tfx.components import FileBasedExampleGen  # not exported by tfx.v1.components in 1.16
from tfx.dsl.components.base import executor_spec
from google.protobuf import struct_pb2
from tfx.proto import example_gen_pb2

from components.text_example_gen.executor import Executor
from models.core.settings import ConfigError

NUM_BUCKETS = 10


def check_eval_buckets(eval_buckets: int) -> None:
    if (not isinstance(eval_buckets, int) or isinstance(eval_buckets, bool)
            or not 1 <= eval_buckets < NUM_BUCKETS):
        raise ConfigError(f"eval_buckets={eval_buckets!r} must be 1..{NUM_BUCKETS - 1} (out of "
                          f"{NUM_BUCKETS} hash buckets; the rest is train).")


def TextExampleGen(corpus_dir: str, eval_buckets: int = 1):
    """Examples (`text`, `source`) from `corpus_dir`, hash-split into `train` and `eval`.

    The split is deterministic: each example's serialized bytes are hashed into 10 buckets;
    `eval_buckets` of them go to `eval`, the rest to `train`. Call `check_corpus_dir` first
    to report every bad file before the pipeline starts (the executor checks again).
    """
    check_eval_buckets(eval_buckets)
    output_config = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(splits=[
            example_gen_pb2.SplitConfig.Split(name="train",
                                              hash_buckets=NUM_BUCKETS - eval_buckets),
            example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_buckets),
        ]))
    return FileBasedExampleGen(
        input_base=corpus_dir,
        custom_executor_spec=executor_spec.BeamExecutorSpec(Executor),
        output_config=output_config,
        custom_config=_corpus_fingerprint(corpus_dir))


def _corpus_fingerprint(corpus_dir: str):
    """A digest of every corpus file's path, size and modification time, in the component's
    custom config, so that TFX's cache key changes when any file changes: ExampleGen's own
    input fingerprint stats only the top-level entries matching `input_base/*`, so an edited
    file in a subdirectory would otherwise reuse the old examples. None for a remote corpus
    (gs://...), which a cluster's orchestrator fingerprints itself."""
    import hashlib
    import os

    if "://" in corpus_dir or not os.path.isdir(corpus_dir):
        return None
    from components.text_example_gen.reader import walk_corpus

    digest = hashlib.sha256()
    for path in walk_corpus(corpus_dir)[0]:
        stat = os.stat(path)
        digest.update(f"{os.path.relpath(path, corpus_dir)}\0{stat.st_size}\0"
                      f"{stat.st_mtime_ns}\n".encode())
    config = example_gen_pb2.CustomConfig()
    struct = struct_pb2.Struct()
    struct.update({"corpus_fingerprint": digest.hexdigest()})
    config.custom_config.Pack(struct)
    return config
