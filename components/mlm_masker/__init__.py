"""MlmMasker: a Beam TFX component producing BERT-style masked-LM examples."""

from components.mlm_masker.component import MlmMasker, MlmMaskerSpec

__all__ = ["MlmMasker", "MlmMaskerSpec"]
