"""MlmMasker: a Beam TFX component producing BERT-style masked-LM examples."""

from components.mlm_masker.component import MlmMasker, MlmMaskerSpec, check_masking

__all__ = ["MlmMasker", "MlmMaskerSpec", "check_masking"]
