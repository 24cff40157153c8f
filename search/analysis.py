"""Measures the paper's findings are stated in (groundwork for the search's analysis).

* ``conv_counts``: convolutions of a genotype on *direct* edges (node i-1 -> node i, the chain
  through the cell) and on the other (skip) edges: Finding 2 compares them at a fixed total.
* ``fsp_matrix`` / ``fsp_loss``: Finding 3's flow-of-solution-procedure matrix of a cell,
  ``G(x) = (1 / (h w)) sum over positions of F_in(x) F_out(x)^T`` (C_in x C_out), and the FSP
  loss of a cell, the mean over examples of ``||G(x) - G(x_adv)||^2`` (squared Frobenius norm).
  A cell whose output is smaller than its input (a reduction cell) is compared after average
  pooling its input to the output's size, the usual choice for FSP across resolutions.
"""

from __future__ import annotations

import torch

from robnetzoo.genotype import Genotype, edge_inputs


def conv_counts(genotype: Genotype) -> dict[str, int]:
    """Convolutions (codes 01 and 11) on direct edges and on skip edges, over all cells."""
    direct = skip = 0
    for cell in genotype.cells:
        for edge, code in enumerate(cell):
            if code[1] != "1":
                continue
            node, source = edge_inputs(edge)
            if source == node + 1:  # the state just before this node (input 1 for node 0)
                direct += 1
            else:
                skip += 1
    return {"direct": direct, "skip": skip, "total": direct + skip}


def fsp_matrix(f_in: torch.Tensor, f_out: torch.Tensor) -> torch.Tensor:
    """``(N, C_in, C_out)``: per example, the spatial mean of the outer products of the input
    and output feature vectors (inputs pooled to the output's resolution first)."""
    if f_in.shape[-2:] != f_out.shape[-2:]:
        f_in = torch.nn.functional.adaptive_avg_pool2d(f_in, f_out.shape[-2:])
    n, c_in, h, w = f_in.shape
    return torch.einsum("nih,noh->nio", f_in.reshape(n, c_in, h * w), f_out.reshape(n, f_out.shape[1], h * w)) / (h * w)


def fsp_loss(f_in: torch.Tensor, f_out: torch.Tensor, f_in_adv: torch.Tensor, f_out_adv: torch.Tensor) -> torch.Tensor:
    """The FSP loss of one cell: mean over examples of the squared Frobenius distance between
    the clean and the adversarial FSP matrices."""
    difference = fsp_matrix(f_in, f_out) - fsp_matrix(f_in_adv, f_out_adv)
    return difference.pow(2).sum(dim=(1, 2)).mean()
