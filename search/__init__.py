"""robnetzoo.search: adversarial training and the robust architecture search.

Built so far: ``recipes`` (training recipes as data: paper / fast / trades / demo presets),
``training`` (the one adversarial-training engine, ``Trainer``), ``runs`` (a training run as a
resumable folder: ``train_run``), ``card`` (the training part of a model card) and ``publish``
(a verified run -> the Hub). The supernet, candidates and selection are still to come (see the
open issues). Depends on the core (``robnetzoo``), never the reverse.
"""
