"""Fixtures shared by the model tests of several folders."""

import pytest

from tests.models.export_helpers import VOCAB


@pytest.fixture()
def vocab_file(tmp_path):
    """A tiny WordPiece vocabulary (lmpipe's reserved tokens and five words) as vocab.txt."""
    path = tmp_path / "vocab.txt"
    path.write_text("".join(t + "\n" for t in VOCAB))
    return str(path)
