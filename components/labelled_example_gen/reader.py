"""Reading and validating labelled text (CSV, TSV, JSONL) for fine-tuning a classifier.

Formats, chosen by the file extension (under `.gz`, `.bz2` or `.xz`, which are decompressed):

* `.tsv`: tab-separated, first row is the header. By default (`tsv_quoting="auto"`, the
  `--tsv-quoting` flag) quote characters are ordinary text (review snippets are full of stray
  `"`), except in a field written with CSV-style quoting, as pandas' `to_csv(sep="\\t")`
  writes a field that holds a quote: a field that starts and ends with `"` and holds a doubled
  `""` is unquoted (`"a ""b"" c"` -> `a "b" c`), and the check says how many fields were.
  `"none"` keeps every quote as written; `"csv"` reads the whole file with CSV quoting (a
  quoted field may then hold tabs and newlines).
* `.csv`: comma-separated with standard CSV quoting (`"a, b"`, `""` for a quote), first row is
  the header.
* `.jsonl`: one JSON object per line; blank lines are skipped. Lines end at `\\n` only (JSON
  strings may hold U+2028, U+2029 and U+0085 unescaped; `models/core/text_files.py`).

Every row gives (line number, text, label), both stripped of surrounding whitespace; the
columns are named by `text_column` / `label_column` (the `--text-column` / `--label-column`
flags). Whatever the input calls them, the examples always use `features.TEXT` and
`features.LABEL`.

`read_labelled` raises a `LabelledDataError` at the first problem of a file;
`check_labelled_data` reads every file and reports *all* problems in one error (bad rows,
labels outside the schema's domain, a single class) so that the data is fixed in one go,
before any pipeline work starts; `inspect_labelled_data` does the same and also returns what
was read (rows and bytes per file and split, what was skipped, notes). The LabelledExampleGen
executor runs the same row checks.
"""

import collections
import csv
import dataclasses
import json
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

from tfx.dsl.io import fileio

from models.core import text_files

DATA_EXTENSIONS = (".csv", ".tsv", ".jsonl")
SPLIT_NAMES = ("train", "eval", "test")
MAX_LISTED_PROBLEMS = 20
TSV_QUOTING = ("auto", "none", "csv")
# The inside of a TSV field in CSV-style quoting: quotes only in doubled pairs.
_QUOTED_INSIDE = re.compile(r'[^"]*(?:""[^"]*)*')

# (line, text, label), and the second text of a pair when there is a text-pair column.
Row = Tuple[str, ...]


class LabelledDataError(ValueError):
    """A labelled data file (or directory) cannot be used to fine-tune a classifier."""


def _is_hidden(path: str) -> bool:
    return os.path.basename(path.rstrip("/")).startswith(".")


def _extension(path: str) -> str:
    """.csv/.tsv/.jsonl (or another extension) under any .gz/.bz2/.xz suffix."""
    return text_files.base_extension(path)


def is_data_file(path: str) -> bool:
    """True for a non-hidden regular file with a .csv/.tsv/.jsonl extension (possibly
    compressed: .tsv.gz)."""
    return (not _is_hidden(path) and _extension(path) in DATA_EXTENSIONS
            and not text_files.refused_format(path) and not fileio.isdir(path))


@dataclasses.dataclass
class FileRead:
    """One data file as read: its split (`train`/`eval`/`test` when the data comes split, else
    None: the hash split draws from every file), data rows and UTF-8 bytes (decompressed)."""

    path: str
    rows: int
    bytes: int
    split: Optional[str] = None


@dataclasses.dataclass
class DataReport:
    """What `inspect_labelled_data` read: rows per label, each file, what it skipped (hidden
    files, other files, subdirectories of a data directory) and notes (e.g. fields unquoted)."""

    label_counts: Dict[str, int]
    files: List[FileRead]
    skipped: List[str]
    notes: List[str]

    def splits(self) -> Dict[str, dict]:
        """{split: {"files", "rows", "bytes"}} for data that comes split; {} otherwise."""
        out: Dict[str, dict] = {}
        for f in self.files:
            if f.split:
                entry = out.setdefault(f.split, {"files": 0, "rows": 0, "bytes": 0})
                entry["files"] += 1
                entry["rows"] += f.rows
                entry["bytes"] += f.bytes
        return out

    def to_json(self, max_listed: int = 1000) -> dict:
        """Totals, and the first `max_listed` files (`listed_files` says how many)."""
        return {"files": len(self.files), "rows": sum(f.rows for f in self.files),
                "bytes": sum(f.bytes for f in self.files),
                "per_file": [dataclasses.asdict(f) for f in self.files[:max_listed]],
                "listed_files": min(len(self.files), max_listed),
                "per_split_files": self.splits(), "skipped": list(self.skipped),
                "notes": list(self.notes)}


def _flag(column_kind: str) -> str:
    return "--" + column_kind.replace(" ", "-") + "-column"


def _columns(text_column: str, label_column: str, pair_column: Optional[str]):
    """(kind, column) of each column a row needs, in Row order."""
    columns = [("text", text_column), ("label", label_column)]
    if pair_column:
        columns.append(("text pair", pair_column))
    return columns


def _read_text(path: str) -> str:
    return text_files.read_utf8(path, LabelledDataError, "convert the file to UTF-8")


def _unquote_tsv_fields(fields: List[str]) -> Tuple[List[str], int]:
    """Fields in CSV-style quoting with a doubled quote inside, unquoted; and how many."""
    out, unquoted = [], 0
    for field in fields:
        stripped = field.strip()
        inside = stripped[1:-1]
        if (len(stripped) >= 2 and stripped[0] == stripped[-1] == '"' and '""' in inside
                and _QUOTED_INSIDE.fullmatch(inside)):
            field = inside.replace('""', '"')
            unquoted += 1
        out.append(field)
    return out, unquoted


class _Problems:
    """Collects row problems (check mode) or raises at the first one (read mode)."""

    def __init__(self, collect: bool):
        self.collect = collect
        self.messages: List[str] = []
        self.notes: List[str] = []

    def add(self, message: str) -> None:
        if not self.collect:
            raise LabelledDataError(message)
        self.messages.append(message)


def _field(path: str, line: int, kind: str, column: str, value, problems: _Problems
           ) -> Optional[str]:
    """The stripped string value of a cell; records a problem and returns None if unusable."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # JSON numbers, e.g. 0/1 labels
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems.add(f"file {path} line {line}: {kind} column '{column}' holds a JSON "
                     f"{type(value).__name__}, not a string; write the {kind} as a string")
        return None
    value = value.strip()
    if not value:
        problems.add(f"file {path} line {line}: {kind} column '{column}' is empty; fill it in "
                     "or remove the row")
        return None
    return value


def _missing_column(path: str, kind: str, column: str, existing: Sequence[str],
                    line: Optional[int] = None) -> str:
    where = f"file {path}" + (f" line {line}" if line is not None else "")
    have = ", ".join(f"'{c}'" for c in existing) or "none"
    noun = "key" if line is not None else "column"
    return (f"{where}: no {kind} {noun} '{column}' ({noun}s: {have}); set {_flag(kind)} to the "
            f"{noun} that holds the {kind}")


def _rows_delimited(path: str, text: str, delimiter: str, columns, problems: _Problems,
                    tsv_quoting: str = "auto") -> List[Row]:
    unquote = delimiter == "\t" and tsv_quoting == "auto"
    unquoted, first_unquoted = 0, None
    # Records end at "\n" only (csv.reader given whole text also ends one at a lone "\r"); a
    # quoted CSV field may still span lines.
    lines = [line + "\n" for line in text_files.split_lines(text)]
    if delimiter == "\t" and tsv_quoting == "csv":
        rows = csv.reader(lines, delimiter="\t", strict=True)
        fix = "a quote character inside an unquoted field? with --tsv-quoting csv, quote it"
    elif delimiter == "\t":
        rows = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
        fix = ("a tab inside a field? TSV fields cannot hold tabs or newlines, unless the file "
               "was written with CSV quoting (pandas' to_csv(sep='\\t')): then use "
               "--tsv-quoting csv")
    else:
        rows = csv.reader(lines)
        fix = "an unquoted comma inside a field? quote the field: \"a, b\""
    out: List[Row] = []
    header = None
    end = 0
    try:
        for fields in rows:
            start, end = end + 1, rows.line_num  # a quoted CSV field may span lines
            if not any(f.strip() for f in fields):
                continue  # blank line
            if unquote:
                fields, count = _unquote_tsv_fields(fields)
                if count and first_unquoted is None:
                    first_unquoted = start
                unquoted += count
            if header is None:
                header = [f.strip() for f in fields]
                index = {}
                for kind, column in columns:
                    if column not in header:
                        hint = ""
                        if delimiter == "\t" and f'"{column}"' in header:
                            hint = (" (the header is in CSV-style quoting, as R's write.table "
                                    "writes it: read the file with --tsv-quoting csv)")
                        raise LabelledDataError(_missing_column(path, kind, column, header)
                                                + hint)
                    index[kind] = header.index(column)
                continue
            if len(fields) != len(header):
                problems.add(f"file {path} line {start}: {len(fields)} field(s), but the header "
                             f"has {len(header)} ({fix}); fix or remove the row")
                continue
            values = [_field(path, start, kind, column, fields[index[kind]], problems)
                      for kind, column in columns]
            if None not in values:
                out.append((start, *values))
    except csv.Error as e:
        raise LabelledDataError(f"file {path} line {rows.line_num}: malformed CSV ({e}); check "
                                "the quoting of that row") from None
    if unquoted:
        problems.notes.append(
            f"file {path}: {unquoted} field(s) in CSV-style quoting (\"...\"\"...\"\"...\"), "
            f"the first on line {first_unquoted}, were read unquoted (--tsv-quoting auto); "
            "--tsv-quoting none keeps quotes as written, --tsv-quoting csv reads the whole file "
            "with CSV quoting")
    if header is None:
        names = " and ".join(f"'{column}'" for _, column in columns)
        raise LabelledDataError(f"file {path}: is empty (no header row); add a header naming "
                                f"the {names} columns and rows")
    return out


def _rows_jsonl(path: str, text: str, columns, problems: _Problems) -> List[Row]:
    out: List[Row] = []
    for line, raw in enumerate(text_files.split_lines(text), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            problems.add(f"file {path} line {line}: malformed JSON ({e.msg} at column "
                         f"{e.colno}); each line must be one JSON object")
            continue
        if not isinstance(obj, dict):
            example = ", ".join(f'"{column}": "..."' for _, column in columns)
            problems.add(f"file {path} line {line}: a JSON {type(obj).__name__}, not an object; "
                         f"each line must be one JSON object like {{{example}}}")
            continue
        values = []
        for kind, column in columns:
            if column not in obj:
                problems.add(_missing_column(path, kind, column, list(obj), line=line))
                values.append(None)
            else:
                values.append(_field(path, line, kind, column, obj[column], problems))
        if None not in values:
            out.append((line, *values))
    return out


def _parse(path: str, text_column: str, label_column: str, problems: _Problems,
           pair_column: Optional[str] = None, tsv_quoting: str = "auto"
           ) -> Tuple[List[Row], int]:
    """(rows, UTF-8 bytes of the decompressed text)."""
    ext = _extension(path)
    refused = text_files.refused_format(path)
    if ext not in DATA_EXTENSIONS or refused:
        raise LabelledDataError(
            f"file {path}: unsupported {'format' if refused else 'extension'} "
            f"'{refused or ext or '(none)'}'; labelled data must be "
            f"{', '.join(DATA_EXTENSIONS)} (optionally .gz, .bz2 or .xz): rename, extract or "
            "convert the file")
    if tsv_quoting not in TSV_QUOTING:
        raise LabelledDataError(f"--tsv-quoting {tsv_quoting!r}: use one of "
                                f"{', '.join(TSV_QUOTING)}")
    text = _read_text(path)
    columns = _columns(text_column, label_column, pair_column)
    if ext == ".jsonl":
        rows = _rows_jsonl(path, text, columns, problems)
    else:
        rows = _rows_delimited(path, text, "\t" if ext == ".tsv" else ",", columns, problems,
                               tsv_quoting)
    if not rows and not problems.messages:
        raise LabelledDataError(f"file {path}: has no data rows; add labelled rows or remove "
                                "the file")
    return rows, len(text.encode("utf-8"))


def read_labelled(path: str, text_column: str = "text", label_column: str = "label",
                  pair_column: Optional[str] = None, tsv_quoting: str = "auto") -> List[Row]:
    """(line number, text, label[, text pair]) for every row of one file; raises at the first
    problem."""
    return _parse(path, text_column, label_column, _Problems(collect=False), pair_column,
                  tsv_quoting)[0]


def _list_data_files(path: str) -> Tuple[List[str], List[str]]:
    """(data files, skipped entries) of a file or directory; see list_data_files."""
    if not fileio.exists(path):
        raise LabelledDataError(f"data path {path} does not exist; fix the path")
    if not fileio.isdir(path):
        return [path], []
    files, skipped, refused = [], [], []
    for name in sorted(fileio.listdir(path)):
        name = name.rstrip("/")  # some filesystems mark directories with a trailing slash
        full = os.path.join(path, name)
        if is_data_file(full):
            files.append(full)
        elif text_files.refused_format(full) and not _is_hidden(full):
            refused.append(full)
        elif fileio.isdir(full):
            skipped.append(full + "/ (a subdirectory: data is read from the directory's top "
                           "level only)")
        else:
            skipped.append(full + (" (hidden)" if _is_hidden(full) else
                                   f" (not {'/'.join(DATA_EXTENSIONS)})"))
    if refused:
        raise LabelledDataError(
            f"data directory {path} holds {', '.join(refused)}: lmpipe reads "
            f"{', '.join(DATA_EXTENSIONS)} files, plain or compressed with gzip, bzip2 or xz, "
            "not archives; extract them")
    if not files:
        raise LabelledDataError(
            f"data directory {path} has no data files (non-hidden {', '.join(DATA_EXTENSIONS)} "
            "files at its top level, optionally .gz/.bz2/.xz); add some or pass the file itself")
    return files, skipped


def list_data_files(path: str) -> List[str]:
    """`path` itself if it is a file, else the directory's top-level data files (sorted).

    Data files are non-hidden .csv/.tsv/.jsonl files (optionally .gz/.bz2/.xz); an archive
    (.zip, .tar, ...) in the directory is an error, other files and subdirectories are skipped
    (`inspect_labelled_data` lists them). The content is not checked here.
    """
    return _list_data_files(path)[0]


def _format_problems(problems: List[str]) -> str:
    listed = problems[:MAX_LISTED_PROBLEMS]
    text = "\n  - " + "\n  - ".join(listed)
    if len(problems) > len(listed):
        text += f"\n  ... and {len(problems) - len(listed)} more"
    return text


def _split_of(path: str, split_data: bool) -> Optional[str]:
    return os.path.basename(path).split(".", 1)[0] if split_data else None


def _check(files: Sequence[str], text_column: str, label_column: str,
           labels: Optional[Sequence[str]], what: str, min_classes: int, labels_from: str,
           pair_column: Optional[str], tsv_quoting: str, split_data: bool = False
           ) -> Tuple[Dict[str, int], List[FileRead], List[str]]:
    problems: List[str] = []
    notes: List[str] = []
    read: List[FileRead] = []
    counts: Dict[str, int] = collections.Counter()
    allowed = set(labels) if labels is not None else None
    domain = ", ".join(labels) if labels is not None else ""
    for path in files:
        collector = _Problems(collect=True)
        try:
            rows, size = _parse(path, text_column, label_column, collector, pair_column,
                                tsv_quoting)
        except LabelledDataError as e:
            problems.append(str(e))
            continue
        problems.extend(collector.messages)
        notes.extend(collector.notes)
        read.append(FileRead(path, len(rows), size, _split_of(path, split_data)))
        for line, _, label, *_ in rows:
            if allowed is not None and label not in allowed:
                problems.append(
                    f"file {path} line {line}: label column '{label_column}' has '{label}', "
                    f"which is not one of {domain} ({labels_from}); fix the data or add the "
                    "class there")
            counts[label] += 1
    if not problems and min_classes and len(counts) < min_classes:
        found = ", ".join(f"'{c}'" for c in sorted(counts)) or "none"
        problems.append(
            f"only {'one class' if len(counts) == 1 else f'{len(counts)} classes'} ({found}) in "
            f"{what}; fine-tuning needs {'two' if min_classes == 2 else min_classes} or more")
    if problems:
        raise LabelledDataError(f"{len(problems)} problem(s) in {what}:"
                                + _format_problems(problems))
    return dict(sort_labels(counts).items()), read, notes


def check_files(files: Sequence[str], text_column: str, label_column: str,
                labels: Optional[Sequence[str]] = None, what: str = "the data",
                min_classes: int = 2, labels_from: str = "the schema's domain",
                pair_column: Optional[str] = None, tsv_quoting: str = "auto") -> Dict[str, int]:
    """Reads every file; returns counts per label or raises one error listing every problem.

    `labels`: the allowed labels (`labels_from` says where they come from, for messages); None
    to accept any. `min_classes`: the fewest distinct labels over all files (0 to skip that
    check).
    """
    return _check(files, text_column, label_column, labels, what, min_classes, labels_from,
                  pair_column, tsv_quoting)[0]


def inspect_labelled_data(path: str, text_column: str = "text", label_column: str = "label",
                          labels: Optional[Sequence[str]] = None,
                          labels_from: str = "the schema's domain",
                          pair_column: Optional[str] = None,
                          tsv_quoting: str = "auto") -> DataReport:
    """Validates a data file or directory and says what was read: rows per label, rows and
    bytes per file (and split, for data that comes split), skipped directory entries, notes.

    Raises one LabelledDataError listing every problem (up to 20, then "and N more"): files that
    cannot be read or parsed, missing columns, bad rows, labels outside `labels` (the schema's
    string domain; None accepts any) and fewer than two distinct labels overall.
    """
    files, skipped = _list_data_files(path)
    counts, read, notes = _check(files, text_column, label_column, labels, path, 2, labels_from,
                                 pair_column, tsv_quoting, split_data=bool(user_splits(path)))
    return DataReport(counts, read, skipped, notes)


def check_labelled_data(path: str, text_column: str = "text", label_column: str = "label",
                        labels: Optional[Sequence[str]] = None,
                        labels_from: str = "the schema's domain",
                        pair_column: Optional[str] = None,
                        tsv_quoting: str = "auto") -> Dict[str, int]:
    """Validates a data file or directory; returns the number of rows per label (the errors
    of `inspect_labelled_data`)."""
    return inspect_labelled_data(path, text_column, label_column, labels, labels_from,
                                 pair_column, tsv_quoting).label_counts


def sort_labels(labels):
    """Class names in lmpipe's default order: numerically when every name is an integer
    (`0, 1, 2, 10`, so that class k is column k of `probabilities`), else as strings.
    A dict is returned as a dict in that key order.

    >>> sort_labels(["10", "2", "0", "1"]), sort_labels(["b", "a", "10", "9"])
    (['0', '1', '2', '10'], ['10', '9', 'a', 'b'])
    """
    keys = list(labels)
    if keys and all(re.fullmatch(r"[+-]?[0-9]+", k) for k in keys):
        ordered = sorted(keys, key=lambda k: (int(k), k))
    else:
        ordered = sorted(keys)
    return {k: labels[k] for k in ordered} if isinstance(labels, dict) else ordered


def train_labels(path: str, text_column: str = "text", label_column: str = "label",
                 pair_column: Optional[str] = None, tsv_quoting: str = "auto") -> List[str]:
    """The classes of the train split in lmpipe's order (`sort_labels`): of `train.*` when the
    data comes split, else of all of it (the hash split draws train from every file)."""
    files = list_data_files(path)
    splits = user_splits(path)
    if splits:
        files = [f for f in files if os.path.basename(f).split(".", 1)[0] == "train"]
    return list(check_files(files, text_column, label_column, what=path,
                            pair_column=pair_column, tsv_quoting=tsv_quoting))


def user_splits(path: str) -> Optional[Dict[str, str]]:
    """{split: glob pattern relative to `path`} if the data is already split, else None.

    The data is already split when `path` is a directory whose data files are all named
    `train.*`, `eval.*` and optionally `test.*` (e.g. train.tsv, eval.tsv.gz), with both train
    and eval present. Any other data file name means the directory is one pool to hash-split.
    """
    if not fileio.exists(path) or not fileio.isdir(path):
        return None
    try:
        files = list_data_files(path)
    except LabelledDataError:
        return None
    stems = {os.path.basename(f).split(".", 1)[0] for f in files}
    if not stems <= set(SPLIT_NAMES) or not {"train", "eval"} <= stems:
        return None
    return {split: f"{split}.*" for split in SPLIT_NAMES if split in stems}
