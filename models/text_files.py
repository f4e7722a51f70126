"""Reading a user's text file: UTF-8 with errors that name the file, the byte and the fix, and
records split at line feeds only.

Every reader of text a user gives (labelled CSV/TSV/JSONL, corpus files, vocabularies,
unlabelled texts, calibration texts) splits lines with `split_lines`: at `\\n`, a `\\r` before it
dropped. Python's `str.splitlines()` also splits at U+2028, U+2029, U+0085, `\\x0b`, `\\x0c` and
`\\x1c`-`\\x1e`, which JSON writers leave unescaped inside strings (`json.dumps(...,
ensure_ascii=False)`), so it cuts records in two.

>>> split_lines("a\\u2028b\\r\\nc\\x85d\\n\\ne\\n")
['a\\u2028b', 'c\\x85d', '', 'e']
"""

from typing import List

import tensorflow as tf


def split_lines(text: str) -> List[str]:
    """The lines of `text`, split at `\\n` only (a trailing `\\r` of each line dropped, as for
    Windows line ends); a final line end does not start another line, as with
    `str.splitlines()`."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_utf8(path: str, error_cls, what_to_do: str, reject_binary: bool = False) -> str:
    """The file's text (a leading byte order mark dropped). Raises `error_cls` if the file
    cannot be read, is binary (a NUL byte, with `reject_binary`) or is not UTF-8; the message
    names the file, the offending byte's offset and line, and ends with `what_to_do`."""
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    except Exception as e:  # NotFoundError, PermissionError, IsADirectoryError, ...
        raise error_cls(f"{path}: cannot read the file ({e}); "
                        "check that it exists and is readable") from e
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
