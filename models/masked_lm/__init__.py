"""Task family: masked language modelling (BERT pretraining)."""
