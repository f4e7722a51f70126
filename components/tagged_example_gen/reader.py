"""Reading and validating tagged text (CoNLL, CoNLL-U-like, JSONL) for token classification.

Formats, chosen by the file extension (under `.gz`, `.bz2` or `.xz`, which are decompressed):

* CoNLL (`.conll`, `.iob`, `.iob1`, `.iob2`, `.bio`, `.bioes`, `.bilou`, `.conllu`, `.txt`,
  `.tsv`): one token per line, sentences separated by blank lines. Columns are separated by
  tabs when the line has one, else by runs of spaces. `-DOCSTART-` lines are skipped, and so
  are comment lines (`#` first, and not a `token tag` line whose tag reads as one, so the
  token `#` stays a token). The token is column 1 and the tag the last column, except in
  CoNLL-U-like files (the first column of every token line is the token's index 1, 2, 3, ...,
  as Universal NER's `.iob2`: `id token tag - annotator`), where the token is column 2 and the
  tag column 3. `token_column` / `tag_column` (1-based; the `--token-column` / `--tag-column`
  flags) name others.
* `.jsonl`: one JSON object per line with a list of tokens (key `tokens`) and a list of tags
  (key `tags`); `token_column` / `tag_column` name other keys.

Tag schemes (`scheme`, the `--tag-scheme` flag): `iob2` (BIO: `B-` starts every entity, `I-`
continues one), `iob1` (`I-` starts an entity, `B-` only starts one right after an entity of
the same type, as CoNLL-2003 and wikigold), `bioes` (`S-` single-token entity, `E-` last token)
and `bilou` (`U-`, `L-`), and `O` outside entities. Every sentence is converted to IOB2, the
scheme the model learns and serves (Hugging Face's and seqeval's default). A tag sequence that
does not read in the declared scheme is an error naming the file, line and what to do, as are
a line without the tag column, an empty token and (JSONL) token and tag lists of different
lengths: `check_tagged_data` reports every problem of every file in one error, before any
pipeline work starts.

>>> to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"], "iob1")
['B-PER', 'I-PER', 'O', 'B-LOC', 'B-LOC']
>>> to_iob2(["S-PER", "B-ORG", "I-ORG", "E-ORG", "O"], "bioes")
['B-PER', 'B-ORG', 'I-ORG', 'I-ORG', 'O']
>>> entity_types(["B-PER", "I-PER", "O", "B-LOC"])
['LOC', 'PER']
"""

import dataclasses
import json
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

from tfx.dsl.io import fileio

from models.core import features, text_files

SCHEMES = features.TAG_SCHEMES
CONLL_EXTENSIONS = (".conll", ".conllu", ".iob", ".iob1", ".iob2", ".bio", ".bioes", ".bilou",
                    ".txt", ".tsv")
DATA_EXTENSIONS = CONLL_EXTENSIONS + (".jsonl",)
SPLIT_NAMES = ("train", "eval", "test")
MAX_LISTED_PROBLEMS = 20
DOCSTART = "-DOCSTART-"
OUTSIDE = "O"
_TAG = re.compile(r"^(O|[BIESLU]-\S+)$")
# The prefixes each scheme uses: (begin, inside, end, single).
_PREFIXES = {"iob2": ("B", "I", None, None), "iob1": ("B", "I", None, None),
             "bioes": ("B", "I", "E", "S"), "bilou": ("B", "I", "L", "U")}


class TaggedDataError(ValueError):
    """A tagged data file (or directory) cannot be used to train a token classifier."""


@dataclasses.dataclass(frozen=True)
class Sentence:
    """One sentence as read: the file, the line of its first token, its tokens and its tags
    in IOB2."""

    path: str
    line: int
    tokens: Tuple[str, ...]
    tags: Tuple[str, ...]


class _Problems:
    """Collects problems (check mode) or raises at the first one (read mode)."""

    def __init__(self, collect: bool):
        self.collect = collect
        self.messages: List[str] = []

    def add(self, message: str) -> None:
        if not self.collect:
            raise TaggedDataError(message)
        self.messages.append(message)


def _split_tag(tag: str) -> Tuple[str, Optional[str]]:
    """("O", None) or (prefix, entity type)."""
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, _, kind = tag.partition("-")
    return prefix, kind


def to_iob2(tags: Sequence[str], scheme: str) -> List[str]:
    """`tags` in `scheme` as IOB2 tags.

    Raises ValueError (its message says which tag and why) if a tag is not `O` or
    `<prefix>-<type>` with a prefix of the scheme, or the sequence breaks the scheme: in IOB2
    an `I-X` that follows neither `B-X` nor `I-X`; in BIOES/BILOU an entity not closed by its
    `E-`/`L-` tag, or an `I-`/`E-`/`L-` tag outside an entity of its type. IOB1 accepts any
    sequence of its tags."""
    if scheme not in SCHEMES:
        raise ValueError(f"tag scheme {scheme!r}: use one of {', '.join(SCHEMES)}")
    begin, inside, end, single = _PREFIXES[scheme]
    allowed = {p for p in (begin, inside, end, single) if p}
    out: List[str] = []
    open_type: Optional[str] = None  # the type of the entity the previous token is in
    for i, tag in enumerate(tags):
        if not _TAG.match(tag) or _split_tag(tag)[0] not in allowed | {OUTSIDE}:
            raise ValueError(f"tag {tag!r} (token {i + 1}) is not O or "
                             f"{'/'.join(sorted(allowed))}-<type>, the tags of {scheme.upper()}")
        prefix, kind = _split_tag(tag)
        if scheme in ("bioes", "bilou") and open_type is not None and (
                prefix not in (inside, end) or kind != open_type):
            raise ValueError(f"token {i + 1} ({tag}) comes inside an unfinished {open_type} "
                             f"entity: in {scheme.upper()} an entity of two or more tokens "
                             f"ends with {end}-{open_type}")
        if prefix == OUTSIDE:
            out.append(OUTSIDE)
            open_type = None
        elif scheme == "iob1":
            previous = _split_tag(out[-1])[1] if out else None
            starts = prefix == begin or previous != kind
            out.append(f"B-{kind}" if starts else f"I-{kind}")
            open_type = kind
        elif scheme == "iob2":
            if prefix == inside and open_type != kind:
                raise ValueError(
                    f"token {i + 1} ({tag}) continues a {kind} entity, but the token before it "
                    f"is {out[-1] if out else 'the sentence start'}: in IOB2 every entity starts "
                    f"with B-{kind} (tags where I- starts entities are IOB1: --tag-scheme iob1)")
            out.append(tag)
            open_type = kind
        else:  # BIOES / BILOU
            if prefix in (inside, end) and open_type != kind:
                raise ValueError(f"token {i + 1} ({tag}) is not inside a {kind} entity: in "
                                 f"{scheme.upper()} one starts with {begin}-{kind}")
            out.append(f"B-{kind}" if prefix in (begin, single) else f"I-{kind}")
            open_type = kind if prefix in (begin, inside) else None
    if scheme in ("bioes", "bilou") and open_type is not None:
        raise ValueError(f"the sentence ends inside a {open_type} entity: in {scheme.upper()} "
                         f"it ends with {end}-{open_type}")
    return out


def entity_types(tags: Sequence[str]) -> List[str]:
    """The sorted entity types of IOB2 `tags`."""
    return sorted({_split_tag(t)[1] for t in tags if t != OUTSIDE})


def iob2_labels(types: Sequence[str]) -> List[str]:
    """The model's classes for entity types: `O`, then `B-T`, `I-T` for each type in order
    (the index is the class id; Hugging Face's `id2label`)."""
    return [OUTSIDE] + [f"{p}-{t}" for t in types for p in ("B", "I")]


def is_data_file(path: str) -> bool:
    """True for a non-hidden regular file with a tagged-data extension (possibly compressed)."""
    return (not os.path.basename(path).startswith(".")
            and text_files.base_extension(path) in DATA_EXTENSIONS
            and not text_files.refused_format(path) and not fileio.isdir(path))


def _column(value: Optional[str], default: int, flag: str) -> int:
    """A 1-based column number from a flag value."""
    if value is None:
        return default
    if not str(value).isdigit() or int(value) < 1:
        raise TaggedDataError(f"{flag} {value!r}: give a column number (1 is the first) for a "
                              "CoNLL file")
    return int(value)


def _conll_sentences(path: str, text: str, token_column: Optional[str],
                     tag_column: Optional[str], problems: _Problems) -> List[Tuple[int, list, list]]:
    """(first line, tokens, raw tags) per sentence of a CoNLL file."""
    lines = text_files.split_lines(text)
    rows: List[Tuple[int, List[str]]] = []  # (line, fields) of token lines; (line, []) breaks

    def fields_of(line: str) -> List[str]:
        return line.split("\t") if "\t" in line else line.split()

    for number, line in enumerate(lines, 1):
        fields = fields_of(line)
        if not line.strip():
            rows.append((number, []))
        elif fields[0] == DOCSTART:
            rows.append((number, []))
        elif line.startswith("#") and not (len(fields) >= 2 and _TAG.match(fields[-1].strip())
                                           and fields[0] == "#"):
            continue  # a comment (`# text = ...`)
        else:
            rows.append((number, [f.strip() for f in fields]))
    token_lines = [fields for _, fields in rows if fields]
    # CoNLL-U-like: every token line starts with its index in the sentence.
    indexed, expected = bool(token_lines), 1
    for _, fields in rows:
        if not fields:
            expected = 1
        elif fields[0] != str(expected) or len(fields) < 3:
            indexed = False
            break
        else:
            expected += 1
    token_at = _column(token_column, 2 if indexed else 1, "--token-column")
    tag_at = _column(tag_column, 3 if indexed else 0, "--tag-column")  # 0: the last
    sentences, tokens, tags, first = [], [], [], None
    for number, fields in rows + [(len(lines) + 1, [])]:
        if not fields:
            if tokens:
                sentences.append((first, tokens, tags))
            tokens, tags, first = [], [], None
            continue
        if len(fields) < 2 or max(token_at, tag_at) > len(fields):
            need = max(token_at, tag_at, 2)
            problems.add(f"file {path} line {number}: {len(fields)} column(s), the token line "
                         f"needs {need} (token in column {token_at}, tag in "
                         f"{'the last' if not tag_at else 'column ' + str(tag_at)}); "
                         "separate token and tag by a tab or space, or set --token-column / "
                         "--tag-column")
            tokens.append("?")
            tags.append(OUTSIDE)
            first = first or number
            continue
        token, tag = fields[token_at - 1], fields[tag_at - 1 if tag_at else -1]
        if not token:
            problems.add(f"file {path} line {number}: the token (column {token_at}) is empty; "
                         "write the token or remove the line")
        tokens.append(token)
        tags.append(tag)
        first = first or number
    return sentences


def _jsonl_sentences(path: str, text: str, token_key: Optional[str], tag_key: Optional[str],
                     problems: _Problems) -> List[Tuple[int, list, list]]:
    token_key, tag_key = token_key or "tokens", tag_key or "tags"
    sentences = []
    for number, line in enumerate(text_files.split_lines(text), 1):
        if not line.strip():
            continue
        where = f"file {path} line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            problems.add(f"{where}: not JSON ({e.msg}); write one JSON object per line")
            continue
        if not isinstance(row, dict) or token_key not in row or tag_key not in row:
            keys = ", ".join(repr(k) for k in row) if isinstance(row, dict) else "none"
            problems.add(f"{where}: needs the keys {token_key!r} and {tag_key!r} (keys: {keys});"
                         " set --token-column / --tag-column to the keys that hold them")
            continue
        tokens, tags = row[token_key], row[tag_key]
        if (not isinstance(tokens, list) or not isinstance(tags, list)
                or not all(isinstance(x, str) for x in tokens + tags)):
            problems.add(f"{where}: {token_key!r} and {tag_key!r} must be lists of strings "
                         "(tags by name, e.g. \"B-PER\", not class ids)")
            continue
        if len(tokens) != len(tags):
            problems.add(f"{where}: {len(tokens)} tokens but {len(tags)} tags; give one tag per "
                         "token")
            continue
        if not tokens:
            problems.add(f"{where}: no tokens; remove the line")
            continue
        for i, token in enumerate(tokens):
            if not token.strip():
                problems.add(f"{where}: token {i + 1} is empty; write it or remove it with its "
                             "tag")
        sentences.append((number, [t.strip() for t in tokens], [t.strip() for t in tags]))
    return sentences


def _parse(path: str, scheme: str, token_column: Optional[str], tag_column: Optional[str],
           problems: _Problems) -> List[Sentence]:
    text = text_files.read_utf8(path, TaggedDataError, "convert the file to UTF-8")
    if text_files.base_extension(path) == ".jsonl":
        raw = _jsonl_sentences(path, text, token_column, tag_column, problems)
    else:
        raw = _conll_sentences(path, text, token_column, tag_column, problems)
    out = []
    for line, tokens, tags in raw:
        try:
            out.append(Sentence(path, line, tuple(tokens), tuple(to_iob2(tags, scheme))))
        except ValueError as e:
            problems.add(f"file {path}, the sentence at line {line}: {e}")
    if not out and not problems.messages:
        problems.add(f"file {path}: no sentences; a tagged file has one token and its tag per "
                     "line, sentences separated by blank lines (or JSONL with tokens and tags)")
    return out


def read_tagged(path: str, scheme: str = "iob2", token_column: Optional[str] = None,
                tag_column: Optional[str] = None) -> List[Sentence]:
    """The sentences of one file, tags in IOB2; raises TaggedDataError at the first problem."""
    return _parse(path, scheme, token_column, tag_column, _Problems(collect=False))


def list_data_files(path: str) -> List[str]:
    """`path` itself, or the tagged-data files directly in directory `path` (sorted).

    Raises TaggedDataError if `path` does not exist, is not a tagged-data file, or is a
    directory without any."""
    if not fileio.exists(path):
        raise TaggedDataError(f"{path} does not exist; give a tagged-data file or directory")
    if not fileio.isdir(path):
        if not is_data_file(path):
            raise TaggedDataError(f"{path}: not a tagged-data file ({', '.join(DATA_EXTENSIONS)},"
                                  " possibly .gz/.bz2/.xz); rename it or convert it")
        return [path]
    files = sorted(os.path.join(path, f) for f in fileio.listdir(path)
                   if is_data_file(os.path.join(path, f)))
    if not files:
        raise TaggedDataError(f"{path} holds no tagged-data files ({', '.join(DATA_EXTENSIONS)})")
    return files


def user_splits(path: str) -> Optional[Dict[str, str]]:
    """{split: glob pattern relative to `path`} when `path` is a directory of `train.*`,
    `eval.*` and optionally `test.*` files; else None (one pool to hash-split)."""
    if not fileio.exists(path) or not fileio.isdir(path):
        return None
    stems = {os.path.basename(f).split(".", 1)[0] for f in list_data_files(path)}
    if not stems <= set(SPLIT_NAMES) or not {"train", "eval"} <= stems:
        return None
    return {split: f"{split}.*" for split in SPLIT_NAMES if split in stems}


@dataclasses.dataclass
class TaggedReport:
    """What `check_tagged_data` read: sentences and tokens per file (and split), and the
    entity counts per type in each split (all files: split None)."""

    files: List[dict]
    entities: Dict[str, Dict[str, int]]

    def to_json(self) -> dict:
        return {"files": len(self.files), "sentences": sum(f["sentences"] for f in self.files),
                "tokens": sum(f["tokens"] for f in self.files), "per_file": self.files,
                "entities": self.entities}


def _entity_count(tags: Sequence[str], counts: Dict[str, int]) -> None:
    for tag in tags:
        if tag.startswith("B-"):
            counts[tag[2:]] = counts.get(tag[2:], 0) + 1


def check_tagged_data(path: str, scheme: str = "iob2", token_column: Optional[str] = None,
                      tag_column: Optional[str] = None,
                      labels: Optional[Sequence[str]] = None) -> TaggedReport:
    """Reads every file of `path` and reports all problems in one TaggedDataError: bad lines,
    tags that break `scheme`, and (with `labels`, the entity types of the run's schema) an
    entity type outside them. Returns what was read."""
    files = list_data_files(path)
    splits = user_splits(path)
    problems = _Problems(collect=True)
    per_file, entities = [], {}
    known = set(labels) if labels is not None else None
    for f in files:
        sentences = _parse(f, scheme, token_column, tag_column, problems)
        split = os.path.basename(f).split(".", 1)[0] if splits else "all"
        counts = entities.setdefault(split, {})
        for s in sentences:
            _entity_count(s.tags, counts)
            if known is not None:
                unknown = sorted(set(entity_types(s.tags)) - known)
                if unknown:
                    problems.add(f"file {f}, the sentence at line {s.line}: entity type(s) "
                                 f"{', '.join(unknown)} not among this run's "
                                 f"{', '.join(sorted(known))}; fix the tags, or train in a "
                                 "new --run-dir (or give --labels) to learn new types")
        per_file.append({"path": f, "split": split if splits else None,
                         "sentences": len(sentences),
                         "tokens": sum(len(s.tokens) for s in sentences)})
    if problems.messages:
        shown = problems.messages[:MAX_LISTED_PROBLEMS]
        more = len(problems.messages) - len(shown)
        raise TaggedDataError(
            f"{len(problems.messages)} problem(s) in {path}; nothing was run:\n  "
            + "\n  ".join(shown) + (f"\n  ... and {more} more" if more > 0 else ""))
    return TaggedReport(per_file, entities)


def train_entity_types(path: str, scheme: str = "iob2", token_column: Optional[str] = None,
                       tag_column: Optional[str] = None) -> List[str]:
    """The entity types of the train split (every file when the data is not split)."""
    splits = user_splits(path)
    files = list_data_files(path)
    if splits:
        files = [f for f in files if os.path.basename(f).split(".", 1)[0] == "train"]
    types = set()
    for f in files:
        for s in read_tagged(f, scheme, token_column, tag_column):
            types.update(entity_types(s.tags))
    if not types:
        raise TaggedDataError(f"{path}: the train split has no entities (every tag is O); "
                              "a token classifier needs tagged entities to learn")
    return sorted(types)
