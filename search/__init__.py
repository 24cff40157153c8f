"""robnetzoo.search: adversarial training and the robust architecture search.

Built so far: ``recipes`` (training recipes as data, with the paper / fast / trades / demo
presets). The training engine, the supernet, candidates and selection are still to come (see
the open issues). Depends on the core (``robnetzoo``), never the reverse.
"""
