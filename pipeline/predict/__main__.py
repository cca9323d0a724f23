"""`python -m pipeline.predict`: see pipeline/predict/__init__.py."""
from . import main

main()
