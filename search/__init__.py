"""robnetzoo.search: adversarial training and the robust architecture search.

Training: ``recipes`` (recipes as data: paper / fast / trades / demo presets), ``training``
(the one adversarial-training engine, ``Trainer``), ``runs`` (a training run as a resumable
folder: ``train_run``), ``card`` and ``publish`` (a verified run -> the Hub).

The search (``pipeline.run_search``; the ``robnetzoo search`` command): ``settings`` (a search
as data, demo / paper presets), ``supernet`` (the one-shot supernet and its weight mapping to
a stand-alone RobNet), ``sampling`` (seeded candidates, path dropout), ``candidates`` (the
finetune / inherited / fsp scorers), ``leaderboard`` (the append-only ledger and the
leaderboard), ``pairs`` (Finding 2's paired experiment), ``analysis`` and ``plots`` (the
paper's three findings, with intervals and verdicts), ``selection`` (bands of convolutions per
cell -> robnet-small / -medium / -large / -free genotypes), ``results`` (the queryable table,
``load_results``), ``drawing`` and ``report`` (cell diagrams, ``report.html``), ``studies``
(the proxy study), ``plan`` (``--plan``), ``workers`` (the work side by side in processes of one
torch thread each). Depends on the core (``robnetzoo``), never the reverse.
"""

from .results import ResultsTable, load_results

__all__ = ["ResultsTable", "load_results"]
