"""The shared machinery of every task family: features, settings, the training loop, inputs,
optimizers, distribution, export helpers, text-file reading, the BERT encoder."""
