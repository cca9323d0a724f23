"""One module per model, `pipeline/models/<model>.py`: its network class and its `SPEC` (a
`pipeline.tasks.ModelSpec`). `pipeline.registry` collects them; importing one model's module loads
that model's code alone, which is all its served version runs."""
