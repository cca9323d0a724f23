"""Data ingestion and generation for the pipeline's models."""
