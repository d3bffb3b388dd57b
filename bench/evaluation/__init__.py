"""Evaluation: the metric registry and scoring of models on data sets."""
