"""Reading and validating extractive question-answering data (SQuAD v1.1 / v2.0 JSON, JSON
Lines) for `lmpipe finetune --task question-answering`.

Formats, by extension (under `.gz`, `.bz2` or `.xz`, decompressed):

* `.json`: SQuAD's, `{"version": ..., "data": [{"title": ..., "paragraphs": [{"context": ...,
  "qas": [{"id", "question", "answers": [{"text", "answer_start"}], "is_impossible"}]}]}]}`.
  v2.0's unanswerable questions (`is_impossible` true) have no `answers` (their
  `plausible_answers` are not answers and are not read).
* `.jsonl`: one question per line, `{"id", "question", "context", "answers": {"text": [...],
  "answer_start": [...]}}` as Hugging Face `datasets` writes SQuAD (`title` optional); an empty
  `answers` list is "no answer".

`answer_start` is a character offset (Unicode code points, Python's `str` index) into the
context, as SQuAD gives it. An answer whose `answer_start` does not point at its `text` in the
context (`context[answer_start:answer_start + len(text)] != text`, a common defect of hand-made
QA sets) is reported with the file, the question id and both strings; `misaligned="drop"`
drops such answers instead (a question left without answers is dropped: it was not
unanswerable), and the report counts them. `check_qa_data` reports every problem of every file
in one error, before any pipeline work.

>>> import json, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "qa.jsonl")
>>> _ = open(path, "w").write(json.dumps({"id": "q1", "question": "Who?", "context": "Ada wrote.",
...     "answers": {"text": ["Ada"], "answer_start": [0]}}) + "\\n")
>>> [(q.id, q.answer_texts, q.answer_starts) for q in read_questions(path)]
[('q1', ['Ada'], [0])]
"""

import dataclasses
import json
import os
from typing import Dict, List, Optional, Sequence

from tfx.dsl.io import fileio

from models.core import text_files

DATA_EXTENSIONS = (".json", ".jsonl")
SPLIT_NAMES = ("train", "eval", "test")
MISALIGNED = ("error", "drop")
MAX_LISTED_PROBLEMS = 20


class QADataError(ValueError):
    """Question-answering data lmpipe cannot use; the message names the file, the question and
    what to do."""


@dataclasses.dataclass
class Question:
    """One question about one context, with its gold answers (none: unanswerable)."""

    id: str
    question: str
    context: str
    answer_texts: List[str]
    answer_starts: List[int]
    title: str = ""
    where: str = ""  # file and line or JSON position, for messages


@dataclasses.dataclass
class _Problems:
    collect: bool
    messages: List[str] = dataclasses.field(default_factory=list)

    def add(self, message: str) -> None:
        if not self.collect:
            raise QADataError(message)
        self.messages.append(message)


def is_data_file(path: str) -> bool:
    name = os.path.basename(path)
    return not name.startswith(".") and text_files.base_extension(path) in DATA_EXTENSIONS


def _jsonl(path: str) -> bool:
    return text_files.base_extension(path) == ".jsonl"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_question(q: Question, path: str, problems: _Problems, misaligned: str,
                    counts: Dict[str, int]) -> Optional[Question]:
    """The question with its aligned answers, or None (dropped, or a problem reported)."""
    where = f"file {path}, question {q.id!r} ({q.where})"
    bad = False
    for name in ("question", "context"):
        if not getattr(q, name).strip():
            problems.add(f"{where}: the {name} is empty; give it, or remove the question")
            bad = True
    if bad:
        return None
    kept_texts, kept_starts = [], []
    for text, start in zip(q.answer_texts, q.answer_starts):
        if not text.strip():
            problems.add(f"{where}: an answer's text is empty; an unanswerable question has no "
                         "answers (SQuAD v2.0: is_impossible true, answers [])")
            bad = True
            continue
        found = q.context[start:start + len(text)] if 0 <= start <= len(q.context) else None
        if found == text:
            kept_texts.append(text)
            kept_starts.append(start)
            continue
        counts["misaligned_answers"] += 1
        if misaligned == "drop":
            continue
        at = q.context.find(text)
        hint = (f"the text first occurs at {at}" if at >= 0 else
                "the text does not occur in the context")
        problems.add(
            f"{where}: answer_start {start} does not point at the answer: the answer is "
            f"{text!r}, the context there reads {found!r} ({hint}); fix answer_start (a "
            "character offset into the context, Unicode code points), or pass "
            "--misaligned-answers drop to leave such answers out")
        bad = True
    if bad:
        return None
    if q.answer_texts and not kept_texts:
        counts["dropped_questions"] += 1
        return None
    return dataclasses.replace(q, answer_texts=kept_texts, answer_starts=kept_starts)


def _answers_of(raw, where: str, problems: _Problems, jsonl: bool):
    """(texts, starts) of a question's `answers`, or None after reporting a problem."""
    if jsonl:
        if not isinstance(raw, dict) or not isinstance(raw.get("text"), list) or not isinstance(
                raw.get("answer_start"), list):
            problems.add(f"{where}: `answers` must be {{\"text\": [...], \"answer_start\": "
                         f"[...]}} (Hugging Face datasets' SQuAD); got {json.dumps(raw)[:80]}")
            return None
        texts, starts = raw["text"], raw["answer_start"]
        if len(texts) != len(starts):
            problems.add(f"{where}: `answers` has {len(texts)} texts but {len(starts)} "
                         "answer_start values; give one start per text")
            return None
    else:
        if not isinstance(raw, list) or not all(isinstance(a, dict) for a in raw):
            problems.add(f"{where}: `answers` must be a list of {{\"text\", \"answer_start\"}} "
                         f"(SQuAD); got {json.dumps(raw)[:80]}")
            return None
        texts = [a.get("text") for a in raw]
        starts = [a.get("answer_start") for a in raw]
    if not all(isinstance(t, str) for t in texts) or not all(_is_int(s) for s in starts):
        problems.add(f"{where}: every answer needs a string `text` and an integer "
                     "`answer_start` (a character offset into the context)")
        return None
    return list(texts), list(starts)


def _squad_questions(path: str, data, problems: _Problems) -> List[Question]:
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        problems.add(f"file {path}: not SQuAD JSON: expected {{\"version\", \"data\": [{{"
                     "\"title\", \"paragraphs\": [{\"context\", \"qas\": [...]}]}]}; for one "
                     "question per line use a .jsonl file")
        return []
    out = []
    for a, article in enumerate(data["data"]):
        title = article.get("title", "") if isinstance(article, dict) else ""
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            problems.add(f"file {path}: data[{a}] has no `paragraphs` list")
            continue
        for p, paragraph in enumerate(paragraphs):
            where_p = f"data[{a}].paragraphs[{p}]"
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if not isinstance(context, str) or not isinstance(qas, list):
                problems.add(f"file {path}: {where_p} needs a string `context` and a `qas` list")
                continue
            for i, qa in enumerate(qas):
                where = f"{where_p}.qas[{i}]"
                if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
                    problems.add(f"file {path}: {where} needs a string `question`")
                    continue
                qid = str(qa.get("id", f"{where}"))
                impossible = qa.get("is_impossible", False)
                answers = _answers_of(qa.get("answers", []), f"file {path}, question {qid!r} "
                                      f"({where})", problems, jsonl=False)
                if answers is None:
                    continue
                if impossible and answers[0]:
                    problems.add(f"file {path}, question {qid!r} ({where}): is_impossible is "
                                 "true but it has answers; an unanswerable question has none "
                                 "(its plausible_answers go in `plausible_answers`)")
                    continue
                out.append(Question(qid, qa["question"], context, *answers, title=str(title),
                                    where=where))
    return out


def _jsonl_questions(path: str, text: str, problems: _Problems) -> List[Question]:
    out = []
    for number, line in enumerate(text_files.split_lines(text), 1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            row = json.loads(line)
        except ValueError as e:
            problems.add(f"file {path}, {where}: not JSON ({e})")
            continue
        if not isinstance(row, dict):
            problems.add(f"file {path}, {where}: expected an object with id, question, context "
                         "and answers")
            continue
        missing = [k for k in ("question", "context", "answers") if k not in row]
        if missing or not all(isinstance(row.get(k), str) for k in ("question", "context")):
            problems.add(f"file {path}, {where}: needs string `question` and `context` and "
                         f"`answers`{' (missing: ' + ', '.join(missing) + ')' if missing else ''}")
            continue
        qid = str(row.get("id", where))
        answers = _answers_of(row["answers"], f"file {path}, question {qid!r} ({where})",
                              problems, jsonl=True)
        if answers is None:
            continue
        out.append(Question(qid, row["question"], row["context"], *answers,
                            title=str(row.get("title", "")), where=where))
    return out


def _parse(path: str, problems: _Problems, misaligned: str, counts: Dict[str, int]):
    text = text_files.read_utf8(path, QADataError, "give SQuAD JSON or JSON Lines (UTF-8)")
    if _jsonl(path):
        raw = _jsonl_questions(path, text, problems)
    else:
        try:
            data = json.loads(text)
        except ValueError as e:
            problems.add(f"file {path}: not JSON ({e}); SQuAD files are one JSON document")
            return []
        raw = _squad_questions(path, data, problems)
    seen, out = {}, []
    for q in raw:
        if q.id in seen:
            problems.add(f"file {path}: question id {q.id!r} at {q.where} was used before at "
                         f"{seen[q.id]}; every question needs its own id")
            continue
        seen[q.id] = q.where
        checked = _check_question(q, path, problems, misaligned, counts)
        if checked is not None:
            out.append(checked)
    return out


def new_counts() -> Dict[str, int]:
    return {"misaligned_answers": 0, "dropped_questions": 0}


def read_questions(path: str, misaligned: str = "error") -> List[Question]:
    """The questions of one file; raises QADataError at the first problem."""
    return _parse(path, _Problems(collect=False), misaligned, new_counts())


def list_data_files(path: str) -> List[str]:
    """`path` itself, or the QA files directly in directory `path` (sorted). Raises
    QADataError if there are none."""
    if not fileio.exists(path):
        raise QADataError(f"{path} does not exist; give a SQuAD JSON or JSONL file or a "
                          "directory of them")
    if not fileio.isdir(path):
        if not is_data_file(path):
            raise QADataError(f"{path}: not a question-answering file "
                              f"({', '.join(DATA_EXTENSIONS)}, possibly .gz/.bz2/.xz)")
        return [path]
    files = sorted(os.path.join(path, f) for f in fileio.listdir(path)
                   if is_data_file(os.path.join(path, f)))
    if not files:
        raise QADataError(f"{path} holds no question-answering files "
                          f"({', '.join(DATA_EXTENSIONS)})")
    return files


def user_splits(path: str) -> Optional[Dict[str, str]]:
    """{split: glob pattern} when `path` is a directory of `train.*`, `eval.*` (and optionally
    `test.*`) files; else None (one pool to hash-split)."""
    if not fileio.exists(path) or not fileio.isdir(path):
        return None
    stems = {os.path.basename(f).split(".", 1)[0] for f in list_data_files(path)}
    if not stems <= set(SPLIT_NAMES) or not {"train", "eval"} <= stems:
        return None
    return {split: f"{split}.*" for split in SPLIT_NAMES if split in stems}


@dataclasses.dataclass
class QAReport:
    """What `check_qa_data` read, per file: questions, answerable ones, gold answers; and the
    misaligned answers dropped and the questions dropped with them."""

    files: List[dict]
    misaligned_answers: int
    dropped_questions: int

    def to_json(self) -> dict:
        return {"files": len(self.files),
                "questions": sum(f["questions"] for f in self.files),
                "unanswerable": sum(f["unanswerable"] for f in self.files),
                "misaligned_answers_dropped": self.misaligned_answers,
                "questions_dropped": self.dropped_questions,
                "per_file": self.files}


def check_qa_data(path: str, misaligned: str = "error",
                  files: Optional[Sequence[str]] = None) -> QAReport:
    """Reads every file of `path` (or `files`) and reports all problems in one QADataError
    (bad JSON or fields, empty questions or contexts, repeated ids, misaligned answers unless
    `misaligned="drop"`). Returns what was read."""
    if misaligned not in MISALIGNED:
        raise QADataError(f"misaligned={misaligned!r}: use one of {', '.join(MISALIGNED)}")
    files = list(files) if files is not None else list_data_files(path)
    splits = user_splits(path) if files is None or os.path.isdir(path) else None
    problems, counts, per_file = _Problems(collect=True), new_counts(), []
    for f in files:
        questions = _parse(f, problems, misaligned, counts)
        per_file.append({"path": f, "split": (os.path.basename(f).split(".", 1)[0]
                                              if splits else None),
                         "questions": len(questions),
                         "unanswerable": sum(not q.answer_texts for q in questions),
                         "answers": sum(len(q.answer_texts) for q in questions)})
    if problems.messages:
        shown = problems.messages[:MAX_LISTED_PROBLEMS]
        more = len(problems.messages) - len(shown)
        raise QADataError(f"{len(problems.messages)} problem(s) in {path}; nothing was run:\n  "
                          + "\n  ".join(shown) + (f"\n  ... and {more} more" if more > 0 else ""))
    return QAReport(per_file, counts["misaligned_answers"] if misaligned == "drop" else 0,
                    counts["dropped_questions"])
