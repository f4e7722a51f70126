"""Extractive question answering (SQuAD): the fifth task family."""
