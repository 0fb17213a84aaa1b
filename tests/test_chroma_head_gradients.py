"""The chroma_bins head's written-out backward passes equal autograd's on the plain formulas."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from losses.chroma_ce import ChromaClassLoss, SoftTargetCrossEntropy
from models.chroma_bins import AnnealedMean, ChromaBinsHead, ChromaGrid


def reference_decode(classes_last: torch.Tensor, centres: torch.Tensor, temperature: float) -> torch.Tensor:
    return F.linear(torch.softmax(classes_last / temperature, dim=-1), centres)


def test_annealed_mean_value_and_gradient_equal_the_plain_formula() -> None:
    grid = ChromaGrid(11)
    centres = grid.centres.t().contiguous().double()
    z = (3 * torch.randn(2, 5, 6, grid.count, dtype=torch.float64)).requires_grad_()
    g = torch.randn(2, 5, 6, 2, dtype=torch.float64)
    ours = AnnealedMean.apply(z, centres, 1 / 0.38)
    (grad_ours,) = torch.autograd.grad(ours, z, g)
    ref = reference_decode(z, centres, 0.38)
    (grad_ref,) = torch.autograd.grad(ref, z, g)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad_ours, grad_ref, rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x: AnnealedMean.apply(x, centres, 2.5), (z[:1, :2, :2].detach().requires_grad_(),))


def test_soft_target_cross_entropy_value_and_gradient_equal_log_softmax_and_gather() -> None:
    grid = ChromaGrid(11)
    chroma = torch.rand(2, 2, 4, 5, dtype=torch.float64)
    indices, weights = grid.soft_targets(chroma)
    indices, weights = indices.permute(0, 2, 3, 1), weights.permute(0, 2, 3, 1)
    z = (2 * torch.randn(2, 4, 5, grid.count, dtype=torch.float64)).requires_grad_()
    g = torch.rand(2, 4, 5, dtype=torch.float64)
    ours = SoftTargetCrossEntropy.apply(z, indices, weights)
    (grad_ours,) = torch.autograd.grad(ours, z, g)
    ref = -(weights * F.log_softmax(z, dim=-1).gather(-1, indices)).sum(-1)
    (grad_ref,) = torch.autograd.grad(ref, z, g)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad_ours, grad_ref, rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x: SoftTargetCrossEntropy.apply(x, indices[:1], weights[:1]), (z[:1].detach().requires_grad_(),))


def test_the_head_and_its_loss_train_as_the_plain_formulas_do(monkeypatch: pytest.MonkeyPatch) -> None:
    """Head forward + chroma_ce, channels_last as in training: RGB, loss and every gradient as before."""
    torch.manual_seed(0)
    head = ChromaBinsHead(11, 0.38, 2)
    raw = torch.randn(2, 17, 16, 16).contiguous(memory_format=torch.channels_last).requires_grad_()
    gray, mask, target = torch.rand(2, 1, 16, 16), (torch.rand(2, 1, 16, 16) > 0.8).float(), torch.rand(2, 3, 16, 16)
    ce = ChromaClassLoss(11, 0.5, 2)

    def step() -> tuple[torch.Tensor, list[torch.Tensor]]:
        rgb, logits = head(raw, gray, mask)
        loss = (rgb - target).abs().mean() + ce(logits, target)
        nodes.update(graph_nodes(loss))
        return loss, list(torch.autograd.grad(loss, [raw, *head.parameters()]))

    nodes: set[str] = set()
    loss, grads = step()
    assert {"AnnealedMeanBackward", "SoftTargetCrossEntropyBackward"} <= nodes  # the training path takes them
    nodes.clear()
    monkeypatch.setattr(AnnealedMean, "apply", _plain_decode)
    monkeypatch.setattr(SoftTargetCrossEntropy, "apply", _plain_ce)
    loss_ref, grads_ref = step()
    assert not {"AnnealedMeanBackward", "SoftTargetCrossEntropyBackward"} & nodes
    torch.testing.assert_close(loss, loss_ref, rtol=1e-5, atol=1e-6)
    for ours, ref in zip(grads, grads_ref):
        torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-6)


def graph_nodes(tensor: torch.Tensor) -> set[str]:
    """Names of the autograd nodes behind `tensor`."""
    names, stack, seen = set(), [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


def _plain_decode(classes_last: torch.Tensor, centres: torch.Tensor, inv_temperature: float) -> torch.Tensor:
    return F.linear(torch.softmax(classes_last * inv_temperature, dim=-1), centres)


def _plain_ce(logits: torch.Tensor, indices: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return -(weights * F.log_softmax(logits, dim=-1).gather(-1, indices)).sum(-1)
