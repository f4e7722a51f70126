"""Reading a user's text file: UTF-8 with errors that name the file, the byte and the fix, and
records split at line feeds only.

Every reader of text a user gives (labelled CSV/TSV/JSONL, corpus files, vocabularies,
unlabelled texts, calibration texts) splits lines with `split_lines`: at `\\n`, a `\\r` before it
dropped. Python's `str.splitlines()` also splits at U+2028, U+2029, U+0085, `\\x0b`, `\\x0c` and
`\\x1c`-`\\x1e`, which JSON writers leave unescaped inside strings (`json.dumps(...,
ensure_ascii=False)`), so it cuts records in two.

Compressed files (`.gz`, `.bz2`, `.xz`) are read whole and decompressed; archives and other
compressions (`.zip`, `.tar`, `.zst`, ...) are refused by name, never skipped.

>>> split_lines("a\\u2028b\\r\\nc\\x85d\\n\\ne\\n")
['a\\u2028b', 'c\\x85d', '', 'e']
>>> base_extension("data/train.TSV.gz"), compression("data/train.TSV.gz")
('.tsv', '.gz')
"""

import bz2
import gzip
import lzma
import os
from typing import List, Optional

import tensorflow as tf

# Compressions read transparently: suffix -> decompress(bytes).
DECOMPRESS = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".xz": lzma.decompress}
# Archives and compressions that are refused by name (extract or recompress them).
REFUSED = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".txz", ".tar", ".zip", ".zst",
           ".7z", ".rar", ".lz4", ".lzma", ".z", ".br")
READABLE = "plain UTF-8 text, or text compressed with gzip (.gz), bzip2 (.bz2) or xz (.xz)"


def compression(path: str) -> Optional[str]:
    """The compression suffix (`.gz`, `.bz2`, `.xz`) that `read_utf8` undoes, or None."""
    ext = os.path.splitext(path)[1].lower()
    return ext if ext in DECOMPRESS and not refused_format(path) else None


def refused_format(path: str) -> Optional[str]:
    """The archive / compression suffix of `path` that lmpipe does not read, or None."""
    name = os.path.basename(path).lower()
    return next((ext for ext in REFUSED if name.endswith(ext)), None)


def base_extension(path: str) -> str:
    """The extension under any compression suffix, lower case: `train.tsv.gz` -> `.tsv`."""
    stem = path[:-len(compression(path))] if compression(path) else path
    return os.path.splitext(stem)[1].lower()


def split_lines(text: str) -> List[str]:
    """The lines of `text`, split at `\\n` only (a trailing `\\r` of each line dropped, as for
    Windows line ends); a final line end does not start another line, as with
    `str.splitlines()`."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_utf8(path: str, error_cls, what_to_do: str, reject_binary: bool = False) -> str:
    """The file's text (decompressed if it is `.gz`/`.bz2`/`.xz`; a leading byte order mark
    dropped). Raises `error_cls` if the file cannot be read, is an archive or a compression
    lmpipe does not read (`REFUSED`), cannot be decompressed, is binary (a NUL byte, with
    `reject_binary`) or is not UTF-8; the message names the file, the offending byte's offset
    and line (in the decompressed text), and ends with `what_to_do`."""
    refused = refused_format(path)
    if refused:
        raise error_cls(f"{path}: a {refused} file, which lmpipe does not read (it reads "
                        f"{READABLE}); extract or recompress it: {what_to_do}")
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    except Exception as e:  # NotFoundError, PermissionError, IsADirectoryError, ...
        raise error_cls(f"{path}: cannot read the file ({e}); "
                        "check that it exists and is readable") from e
    suffix = compression(path)
    if suffix:
        try:
            data = DECOMPRESS[suffix](data)
        except (OSError, EOFError, lzma.LZMAError) as e:
            raise error_cls(f"{path}: cannot be decompressed as {suffix} ({e}); the file is "
                            f"damaged or not {suffix}: {what_to_do}") from None
    return decode_utf8(data, path, error_cls, what_to_do, reject_binary)


def decode_utf8(data: bytes, path: str, error_cls, what_to_do: str,
                reject_binary: bool = False) -> str:
    """`data` (the bytes of `path`) as text; the errors of `read_utf8`."""
    nul = data.find(b"\x00") if reject_binary else -1
    if nul >= 0:
        raise error_cls(f"{path}: looks like a binary file (NUL byte at offset {nul}); it must "
                        f"be UTF-8 plain text: {what_to_do}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise error_cls(
            f"{path}: not valid UTF-8 (first bad byte 0x{data[e.start]:02x} at byte offset "
            f"{e.start}, line {line}); {what_to_do}") from None
    return text[1:] if text.startswith("\ufeff") else text
