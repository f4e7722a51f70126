"""Reading a user's text file as UTF-8, with errors that name the file, the byte and the fix."""

from tfx.dsl.io import fileio


def read_utf8(path: str, error_cls, what_to_do: str, reject_binary: bool = False) -> str:
    """The file's text (a leading byte order mark dropped). Raises `error_cls` if the file
    cannot be read, is binary (a NUL byte, with `reject_binary`) or is not UTF-8; the message
    names the file, the offending byte's offset and line, and ends with `what_to_do`."""
    try:
        with fileio.open(path, "rb") as f:
            data = f.read()
    except Exception as e:  # NotFoundError, PermissionError, IsADirectoryError, ...
        raise error_cls(f"{path}: cannot read the file ({e}); "
                        "check that it exists and is readable") from e
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
