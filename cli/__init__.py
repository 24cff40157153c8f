"""robnetzoo.cli: the ``robnetzoo`` command. Thin: parse, call the library, print."""
