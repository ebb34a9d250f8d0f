"""Corpora, splits and input pipelines."""
