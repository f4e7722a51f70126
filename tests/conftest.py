"""Shared fixtures. `pretrain_run` runs the whole pretraining pipeline once per test session
(through the `lmpipe` command, on a tiny slice of the bundled corpus) for every e2e test.

The time budgets: each test file's seconds (its tests' set-up, call and tear-down, summed over
both xdist workers) against its budget in the README's Tests section; `make test` ends with the
files that ran past theirs (a report, not a failure: these machines are noisy)."""

import collections
import json
import os
import re
import subprocess
import sys
import time

import pytest

# Quieter TensorFlow logs in test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

LMPIPE = os.path.join(os.path.dirname(sys.executable), "lmpipe")
# saved_model_cli has no flag to load op libraries: register tensorflow-text's ops first.
SAVED_MODEL_CLI = [sys.executable, "-c",
                   "import sys, tensorflow_text; from tensorflow.python.tools import saved_model_cli; "
                   "sys.argv[0] = 'saved_model_cli'; saved_model_cli.main()"]
TINY_PRETRAIN_FLAGS = [
    "--vocab-size", "800", "--lower-thresh", "1", "--seq-length", "64", "--max-predictions", "8",
    # 600 steps put eval masked accuracy near 0.09, clear of the 0.05 gate and of the
    # most-frequent-token baseline (0.04); at 300 it landed either side of 0.05 by machine.
    "--batch-size", "16", "--train-steps", "600", "--checkpoint-every", "300", "--eval-steps", "10",
    "--learning-rate", "2e-3", "--min-masked-accuracy", "0.05", "--top-k", "3",
    # Every Beam step in DirectRunner's multi-process mode: the data steps must not rely on
    # sharing one process (as on Dataflow, Flink or Spark).
    "--beam-arg=--direct_running_mode=multi_processing", "--beam-arg=--direct_num_workers=2",
]


FILE_SECONDS = collections.defaultdict(float)


def read_budgets(readme: str):
    """({test file: budget in seconds}, the budget of any file not named) from the table of
    the README's Tests section: rows `| path | seconds |`, one `| any other file | seconds |`."""
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    section = text.split("\n## Tests", 1)[-1].split("\n## ", 1)[0]
    budgets, default = {}, None
    for name, seconds in re.findall(r"^\|\s*`?([^`|]+?)`?\s*\|\s*(\d+)\s*\|", section, re.M):
        if name == "any other file":
            default = int(seconds)
        else:
            budgets[name] = int(seconds)
    return budgets, default


def pytest_runtest_logreport(report):
    """Every phase's seconds, by file (under xdist the controller gets every worker's reports)."""
    FILE_SECONDS[report.nodeid.split("::")[0]] += report.duration


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    if hasattr(config, "workerinput") or not FILE_SECONDS:
        return  # a worker: the controller reports
    budgets, default = read_budgets(os.path.join(REPO, "README.md"))
    over = []
    for path, seconds in FILE_SECONDS.items():
        budget = budgets.get(path, default)
        if budget is not None and seconds > budget:
            over.append((seconds - budget, path, seconds, budget))
    write = terminalreporter.write_line
    terminalreporter.section("time budgets (README.md, Tests)")
    write(f"{len(FILE_SECONDS)} files, {sum(FILE_SECONDS.values()) / 60:.1f} test-minutes over "
          f"both workers, {(time.time() - config.stash[STARTED]) / 60:.1f} minutes of wall time")
    if default is None and not budgets:
        write("no budget table in the README's Tests section")
    for _, path, seconds, budget in sorted(over, reverse=True):
        write(f"over budget: {path}: {seconds:.0f} s (budget {budget} s)")
    if not over and budgets:
        write("every file within its budget")


STARTED = pytest.StashKey[float]()


def pytest_configure(config):
    config.stash[STARTED] = time.time()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's hook turns the marks into node ids
def pytest_collection_modifyitems(config, items):
    """Under `pytest -n 2 --dist loadgroup` (CI), tests that share a pipeline run stay on one
    worker, so that no run is done twice: tests that use one of this project's session- or
    module-scoped fixtures (`pretrain_run`, `finetune_run`, a module's run) are grouped with
    every other test that uses it, transitively (`xdist_group`). The groups follow the fixtures,
    so a new test that uses `finetune_run` joins its group by itself; every other test is
    scheduled on its own."""
    parent = {}

    def find(key):
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    keys_of = {}
    for item in items:
        keys = []
        definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
        for name in getattr(item, "fixturenames", ()):
            if not definitions.get(name):
                continue
            fixturedef = definitions[name][-1]
            if not fixturedef.baseid or fixturedef.scope == "function":
                continue  # pytest's own fixtures (tmp_path_factory, ...) or per-test ones
            if fixturedef.scope == "session":
                keys.append(name)
            else:  # module, class or package scope: one instance per module at most
                keys.append(f"{item.module.__name__}.{name}")
        keys_of[item.nodeid] = keys
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
    for item in items:
        keys = keys_of[item.nodeid]
        if keys:
            item.add_marker(pytest.mark.xdist_group(find(keys[0]).replace("@", "_")))


def read_warmup_requests(model_dir):
    """The PredictionLogs of a pushed model's `assets.extra/tf_serving_warmup_requests`."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(model_dir, "assets.extra", "tf_serving_warmup_requests")
    return [prediction_log_pb2.PredictionLog.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(path)]


def tiny_corpus(path, chars_per_file=30_000):
    """The first `chars_per_file` characters (whole documents) of each bundled corpus file."""
    os.makedirs(path, exist_ok=True)
    corpus = os.path.join(REPO, "data", "corpus")
    for name in sorted(os.listdir(corpus)):
        with open(os.path.join(corpus, name), encoding="utf-8") as f:
            documents = f.read().split("\n\n")
        kept, size = [], 0
        for document in documents:
            kept.append(document[:chars_per_file])
            size += len(kept[-1])
            if size >= chars_per_file:
                break
        with open(os.path.join(path, name), "w", encoding="utf-8") as f:
            f.write("\n\n".join(kept) + "\n")
    return path


def nest(corpus):
    """A corpus as users keep one: news.txt gzipped in a subdirectory (`more/news.txt.gz`), and
    a hidden directory that must be skipped."""
    import gzip

    os.makedirs(os.path.join(corpus, "more"))
    with open(os.path.join(corpus, "news.txt"), "rb") as f, \
            gzip.open(os.path.join(corpus, "more", "news.txt.gz"), "wb") as out:
        out.write(f.read())
    os.remove(os.path.join(corpus, "news.txt"))
    os.makedirs(os.path.join(corpus, ".cache"))
    with open(os.path.join(corpus, ".cache", "state.txt"), "w") as f:
        f.write("not a document\n")
    return corpus


def run_lmpipe(*args, timeout=1200):
    """Runs the installed `lmpipe` command; returns the CompletedProcess (output captured)."""
    return subprocess.run([LMPIPE, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def pretrain_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    corpus = nest(tiny_corpus(str(root / "corpus")))
    run_dir = str(root / "run")
    result = run_lmpipe("pretrain", "--corpus", corpus, "--run-dir", run_dir, *TINY_PRETRAIN_FLAGS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["pretrain"]
    return {"run_dir": run_dir, "corpus": corpus, "summary": summary, "stdout": result.stdout}


TINY_FINETUNE_FLAGS = [
    "--seq-length", "32", "--batch-size", "16", "--train-steps", "120", "--checkpoint-every", "60",
    "--eval-steps", "4", "--learning-rate", "1e-3", "--min-accuracy", "0.8",
]


def cued_reviews(path, rows=480):
    """Real review snippets from the bundled sample, each prefixed with a cue word for its
    label ('he' positive, 'she' negative), so that a tiny model learns the task in a minute and
    the tests can tell a good model from a regressed one."""
    sample = os.path.join(REPO, "data", "sentiment", "rotten_tomatoes_sample.tsv")
    with open(sample, encoding="utf-8") as f:
        header, *lines = f.read().splitlines()
    with open(path, "w", encoding="utf-8") as f:
        f.write(header + "\n")
        for line in lines[:rows]:
            label, text = line.split("\t")
            f.write(f"{label}\t{'he' if label == 'positive' else 'she'} {text}\n")
    return path


@pytest.fixture(scope="session")
def finetune_run(pretrain_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    data = cued_reviews(str(root / "reviews.tsv"))
    run_dir = str(root / "run")
    result = run_lmpipe("finetune", "--data", data, "--pretrained", pretrain_run["run_dir"],
                        "--run-dir", run_dir, *TINY_FINETUNE_FLAGS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)["finetune"]
    return {"run_dir": run_dir, "data": data, "summary": summary, "stdout": result.stdout,
            "pretrain": pretrain_run}
