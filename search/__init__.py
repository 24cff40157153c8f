"""robnetzoo.search: the robust architecture search (supernet, sampling, FSP, selection).

Not built yet; see the open issues. Depends on the core (``robnetzoo``), never the reverse.
"""
