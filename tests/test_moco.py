"""Momentum update, the key encoder's start, and the FIFO queue with wrap-around."""

import torch
from torch import nn

from skelemix.config import load_config
from skelemix.methods import SkeletonCLR
from skelemix.methods.moco import MemoryQueue, momentum_update


def test_momentum_update_by_hand():
    query, key = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        query.weight.copy_(torch.tensor([[1.0, 2.0]]))
        query.bias.fill_(10.0)
        key.weight.copy_(torch.tensor([[0.0, 4.0]]))
        key.bias.fill_(0.0)
    momentum_update(key, query, 0.999)
    assert torch.allclose(key.weight, torch.tensor([[0.001, 0.999 * 4 + 0.002]]))
    assert torch.allclose(key.bias, torch.tensor([0.01]))
    assert torch.equal(query.weight, torch.tensor([[1.0, 2.0]]))  # the query side is untouched


def test_key_encoder_starts_as_an_exact_copy_and_takes_no_gradient():
    model = SkeletonCLR(load_config([], ["method.queue_size=16"]), "ntu25")
    query_state, key_state = model.encoder.state_dict(), model.key_encoder.state_dict()
    assert query_state.keys() == key_state.keys()
    assert all(torch.equal(query_state[name], key_state[name]) for name in query_state)
    assert all(torch.equal(a, b) for a, b in zip(model.projector.parameters(), model.key_projector.parameters()))
    assert not any(p.requires_grad for p in model.key_encoder.parameters())
    assert not any(p.requires_grad for p in model.key_projector.parameters())


def test_queue_is_fifo_and_wraps_around():
    queue = MemoryQueue(size=5, dim=2)
    batch = lambda start: torch.arange(start, start + 3, dtype=torch.float32)[:, None].repeat(1, 2)  # noqa: E731
    queue.enqueue(batch(0))  # slots 0-2 <- 0, 1, 2
    queue.enqueue(batch(3))  # slots 3, 4 <- 3, 4; wraps: slot 0 <- 5
    assert queue.keys[:, 0].tolist() == [5, 1, 2, 3, 4]
    assert int(queue.pointer) == 1
    queue.enqueue(batch(6))  # slots 1-3 <- 6, 7, 8
    assert queue.keys[:, 0].tolist() == [5, 6, 7, 8, 4]
    assert int(queue.pointer) == 4


def test_queue_keeps_the_last_keys_of_an_oversized_batch():
    queue = MemoryQueue(size=3, dim=1)
    queue.enqueue(torch.arange(7, dtype=torch.float32)[:, None])  # 0..6 into slots 0,1,2,0,1,2,0
    assert queue.keys[:, 0].tolist() == [6, 4, 5]
    assert int(queue.pointer) == 1


def test_initial_queue_holds_unit_vectors():
    queue = MemoryQueue(size=10, dim=4)
    assert torch.allclose(queue.keys.norm(dim=1), torch.ones(10))


def test_the_momentum_step_follows_each_sgd_step_and_computing_keys_leaves_the_key_side_alone():
    model = SkeletonCLR(load_config([], ["method.queue_size=16", "method.momentum=0.75", "encoder.dropout=0.0"]),
                        "ntu25").train()
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(1.0)  # the query side moves away from its copy, as an optimizer step would
    before = [p.clone() for p in model.key_encoder.parameters()]
    head_before = model.key_projector[0].weight.clone()
    x = torch.randn(4, 3, 16, 25, 1)
    model.contrastive_step(x)
    assert all(torch.equal(a, b) for a, b in zip(before, model.key_encoder.parameters()))
    optimizer = torch.optim.SGD(model.trainable_parameters(), lr=0.5)
    model.optimization_step(x, None, optimizer, lambda term, last: term.backward())
    # towards the query side as the SGD step left it (before it, the result would differ by 0.25 x that step)
    for old, new, query in zip(before, model.key_encoder.parameters(), model.encoder.parameters()):
        torch.testing.assert_close(new, 0.75 * old + 0.25 * query)
    torch.testing.assert_close(model.key_projector[0].weight, 0.75 * head_before + 0.25 * model.projector[0].weight)
    assert int(model.queue.pointer) == 4  # the batch's keys queued
