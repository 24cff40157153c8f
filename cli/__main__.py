"""``python -m robnetzoo.cli``: what torchrun launches (``torchrun ... -m robnetzoo.cli eval ...``)."""

from .app import main

main()
