"""Task family: causal language modelling (GPT-2)."""
