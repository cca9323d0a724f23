"""Reproducible MLOps pipeline: ingest, generate, train, evaluate, register, serve."""
