"""Task family: text and text-pair classification (long texts, distillation, TFLite)."""
