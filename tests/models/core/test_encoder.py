"""The saved encoder (models/core/encoder.py): layout, round trip, vocabulary check."""

import numpy as np
import pytest

from models.core import encoder, features
from models.core.backbone import build_backbone


def test_saved_encoder_round_trips_beside_its_vocabulary(tmp_path):
    vocab = tmp_path / features.VOCAB_FILE
    vocab.write_text("".join(f"t{i}\n" for i in range(30)))
    backbone = build_backbone(30, 16, "tiny")
    saved = encoder.save_encoder(backbone, str(tmp_path / "model" / "Format-Serving"), str(vocab))
    assert saved == str(tmp_path / "model" / "encoder")
    assert open(encoder.vocab_file(saved)).read() == vocab.read_text()
    assert encoder.vocabulary_size(saved) == 30
    assert encoder.check_vocabulary(saved, 30, str(vocab)) == 30
    loaded = encoder.load_encoder(saved)
    for a, b in zip(backbone.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    fresh = encoder.load_encoder(saved, pretrained=False)  # --from-scratch: same shapes, new weights
    assert [w.shape for w in fresh.get_weights()] == [w.shape for w in loaded.get_weights()]
    assert not np.array_equal(fresh.token_embedding.embeddings.numpy(),
                              loaded.token_embedding.embeddings.numpy())
    with pytest.raises(encoder.EncoderError, match="has 31 tokens but .* 30 token embeddings"):
        encoder.check_vocabulary(saved, 31, str(vocab))
