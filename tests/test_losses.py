"""InfoNCE (Eq. 1), the trimmed/truncated losses (Eq. 4-5) and their combination (Eq. 6-7)."""

import math

import pytest
import torch

from skelemix.methods.moco import info_nce


def test_info_nce_matches_hand_computation():
    # two samples in 2-D; the queue holds two unit vectors
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    k = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    queue = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    t = 0.2
    # sample 1: positive 0.6, negatives 1.0 and -1.0; sample 2: positive 1.0, negatives 0 and 0
    l1 = -math.log(math.exp(0.6 / t) / (math.exp(0.6 / t) + math.exp(1.0 / t) + math.exp(-1.0 / t)))
    l2 = -math.log(math.exp(1.0 / t) / (math.exp(1.0 / t) + 2 * math.exp(0.0)))
    assert info_nce(q, k, queue, t).item() == pytest.approx((l1 + l2) / 2, rel=1e-6)


def test_extra_negative_is_one_more_term_per_sample():
    p = torch.tensor([[1.0, 0.0]])
    partner_key = torch.tensor([[0.8, 0.6]])
    g = torch.tensor([[0.0, 1.0]])
    queue = torch.tensor([[0.0, -1.0]])
    t = 0.5
    expected = -math.log(math.exp(0.8 / t) / (math.exp(0.8 / t) + math.exp(0.0 / t) + math.exp(0.0 / t)))
    assert info_nce(p, partner_key, queue, t, extra_negative=g).item() == pytest.approx(expected, rel=1e-6)
    # a truncated view that resembles p is a harder negative: the loss grows
    harder = info_nce(p, partner_key, queue, t, extra_negative=torch.tensor([[1.0, 0.0]]))
    expected_harder = -math.log(math.exp(1.6) / (math.exp(1.6) + math.exp(2.0) + 1.0))
    assert harder.item() == pytest.approx(expected_harder, rel=1e-6)


def test_the_mix_loss_sends_no_gradient_through_the_detached_side_of_the_pair(monkeypatch):
    """SkeleMixCLR's own mix term, with the pooling and projection replaced by leaves of known values: p's gradient
    must be L_p's alone (g only a fixed negative of it), g's L_g's alone, each computed by hand here."""
    import skelemix.methods.skelemixclr as module
    from skelemix.methods import METHODS
    from skelemix.methods.skeletonclr import SkeletonCLR

    config = _tiny_config()
    model = METHODS["skelemixclr"](config, "ntu25")
    n, d = 4, 8
    trimmed = torch.nn.functional.normalize(torch.randn(n, d), dim=1).requires_grad_()
    truncated = torch.nn.functional.normalize(torch.randn(n, d), dim=1).requires_grad_()
    keys = torch.nn.functional.normalize(torch.randn(n, d), dim=1)
    queue = torch.nn.functional.normalize(torch.randn(16, d), dim=1)
    partner = torch.tensor([1, 2, 3, 0])
    x = torch.zeros(n, 3, 16, 25, 2)
    monkeypatch.setattr(model.skelemix, "forward", lambda view, generator: (view, partner, None))
    monkeypatch.setattr(model.encoder, "feature_map", lambda view: view)
    monkeypatch.setattr(module, "mask_pool", lambda features, mask: (trimmed, truncated))
    monkeypatch.setattr(model, "project", lambda pooled: pooled)
    monkeypatch.setattr(SkeletonCLR, "loss_terms", lambda *args: iter(()))  # the InfoNCE term left out
    (mix_loss, _), = model.loss_terms(x, keys, queue)
    mix_loss.backward()
    t = config.method.temperature
    p, g = trimmed.detach().requires_grad_(), truncated.detach().requires_grad_()
    (_nce(p, keys[partner], torch.cat([queue]), t, extra=g.detach()) / 2).backward()
    (_nce(g, keys, queue, t, extra=p.detach()) / 2).backward()
    assert torch.allclose(trimmed.grad, p.grad, atol=1e-6) and torch.allclose(truncated.grad, g.grad, atol=1e-6)


def _tiny_config(**method):
    from skelemix.config import load_config

    overrides = ["encoder.hidden_channels=4", "encoder.out_channels=16", "encoder.projection_dim=8",
                 "encoder.dropout=0.0", "method.queue_size=32", "method.mix.min_frames=1", "method.mix.max_frames=2"]
    return load_config([], overrides + [f"method.{k}={v}" for k, v in method.items()])


def _total_loss(config, x):
    from skelemix.methods import METHODS

    torch.manual_seed(0)
    model = METHODS[config.method.name](config, "ntu25")
    torch.manual_seed(1)  # the same views, partners and keys for every config
    result = model.contrastive_step(x)
    return result.loss.item(), result.logs


def _nce(query, positive, negatives, t, extra=None):
    """-log softmax of the positive logit, written out: -(q.k / t) + log(exp(q.k / t) + sum_n exp(q.n / t)), each
    query's ``extra`` row (N, D) one more negative of it."""
    logits = [(query * positive).sum(1, keepdim=True), query @ negatives.T]
    if extra is not None:
        logits.append((query * extra).sum(1, keepdim=True))
    logits = torch.cat(logits, dim=1) / t
    return (torch.logsumexp(logits, dim=1) - logits[:, 0]).mean()


@pytest.mark.parametrize("weight", [1.0, 0.5])
def test_total_loss_recomputed_from_its_parts(weight):
    """Eq. 3-7 by hand: the same views, region and partners, the pooling and the InfoNCE terms written out."""
    from skelemix.data.streams import to_stream
    from skelemix.methods import METHODS

    config = _tiny_config(**{"mix.weight": weight})
    x = torch.randn(6, 3, 16, 25, 2)
    torch.manual_seed(0)
    model = METHODS[config.method.name](config, "ntu25")
    torch.manual_seed(1)
    result = model.contrastive_step(x)
    total, logs = result.loss, result.logs

    torch.manual_seed(0)
    model = METHODS[config.method.name](config, "ntu25")
    torch.manual_seed(1)
    t = config.method.temperature
    with torch.no_grad():
        query_view = to_stream(model.augment(x), "joint", model.layout)
        key_view = to_stream(model.augment(x), "joint", model.layout)
        k = torch.nn.functional.normalize(model.key_projector(model.key_encoder(key_view)), dim=1)
        negatives = model.queue.keys.clone()
        q = torch.nn.functional.normalize(model.projector(model.encoder(query_view)), dim=1)
        info = _nce(q, k, negatives, t)
        mixed, partner, mask = model.skelemix(query_view, model.step_generator())
        region = mask.repeat_interleave(4, 0)  # (T, V) at the input's frame rate
        assert torch.equal(mixed[:, :, region], query_view[partner][:, :, region])
        assert torch.equal(mixed[:, :, ~region], query_view[:, :, ~region])
        features = model.encoder.feature_map(mixed)  # (N, M, C, T', V)
        inside = mask.float()
        trimmed = (features * inside).sum(dim=(3, 4)).mean(dim=1) / inside.sum()
        truncated = (features * (1 - inside)).sum(dim=(3, 4)).mean(dim=1) / (1 - inside).sum()
        p = torch.nn.functional.normalize(model.projector(trimmed), dim=1)
        g = torch.nn.functional.normalize(model.projector(truncated), dim=1)
        # each view has one more negative of its own, the other view of the same sample
        logits_p = torch.cat([(p * k[partner]).sum(1, keepdim=True), p @ negatives.T, (p * g).sum(1, keepdim=True)],
                             1) / t
        logits_g = torch.cat([(g * k).sum(1, keepdim=True), g @ negatives.T, (g * p).sum(1, keepdim=True)], 1) / t
        loss_p = (torch.logsumexp(logits_p, 1) - logits_p[:, 0]).mean()
        loss_g = (torch.logsumexp(logits_g, 1) - logits_g[:, 0]).mean()
    assert logs["loss_info"].item() == pytest.approx(info.item(), rel=1e-5)
    assert total.item() == pytest.approx(info.item() + weight * (loss_p + loss_g).item() / 2, rel=1e-5)


def test_skelemixclr_plus_sums_three_mixes_of_different_regions():
    """R = 3: three SkeleMix views with their own regions, each a term (L_p + L_g) / 2 of about log(K + 2)."""
    from skelemix.methods import METHODS

    config = _tiny_config(**{"mix.repeats": 3})
    torch.manual_seed(0)
    model = METHODS[config.method.name](config, "ntu25")
    keys = torch.nn.functional.normalize(torch.randn(6, 8), dim=1)
    queue = torch.nn.functional.normalize(torch.randn(32, 8), dim=1)
    terms = list(model.loss_terms(torch.randn(6, 3, 16, 25, 1), keys, queue))
    assert len(terms) == 4  # InfoNCE and three mixes
    mixes = [term.item() for term, _ in terms[1:]]
    assert len(set(mixes)) == 3  # three regions and partners, three values
    assert terms[-1][1]["loss_mix"].item() == pytest.approx(sum(mixes), rel=1e-6)


@pytest.mark.parametrize("name", ["skeletonclr", "skelemixclr"])
def test_term_by_term_gradients_equal_one_backward_of_the_whole_loss(name):
    """Training differentiates each encoder pass's term at once (to free its activations): the same gradient."""
    from skelemix.methods import METHODS

    config = _tiny_config(name=name, **({"mix.repeats": 3} if name == "skelemixclr" else {}))
    x = torch.randn(6, 3, 16, 25, 2)
    torch.manual_seed(0)
    model = METHODS[config.method.name](config, "ntu25")
    trainable = model.trainable_parameters()
    torch.manual_seed(1)
    loss = model.contrastive_step(x).loss
    whole = torch.autograd.grad(loss, trainable)
    torch.manual_seed(0)  # a fresh model: the first call moved BatchNorm statistics and the key encoder
    model = METHODS[config.method.name](config, "ntu25")
    trainable = model.trainable_parameters()
    torch.manual_seed(1)
    lasts = []
    detached = model.contrastive_step(x, backward=lambda term, last: lasts.append(last) or term.backward()).loss
    assert not detached.requires_grad and detached.item() == pytest.approx(loss.item(), rel=1e-6)
    # one backward per encoder pass; only the last may all-reduce under DDP
    assert lasts == [False] * (model.loss_term_count - 1) + [True] and len(lasts) == (4 if name == "skelemixclr" else 1)
    assert len(whole) == len(trainable) > 0
    for a, parameter in zip(whole, trainable, strict=True):
        assert torch.allclose(a, parameter.grad, rtol=1e-4, atol=1e-6)


def test_excluded_queue_keys_leave_the_softmax():
    """A query whose own sample's earlier key sits in the queue: excluded, the loss is the one without that key."""
    t = 0.5
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[0.8, 0.6]])
    queue = torch.tensor([[0.6, 0.8], [0.0, 1.0]])  # slot 0: the same sample's key from the last epoch
    positive, stale, other = 0.8 / t, 0.6 / t, 0.0 / t
    with_stale = -math.log(math.exp(positive) / (math.exp(positive) + math.exp(stale) + math.exp(other)))
    without = -math.log(math.exp(positive) / (math.exp(positive) + math.exp(other)))
    assert info_nce(q, k, queue, t).item() == pytest.approx(with_stale, rel=1e-6)
    excluded = torch.tensor([[True, False]])
    assert info_nce(q, k, queue, t, excluded=excluded).item() == pytest.approx(without, rel=1e-6)


def test_the_queue_knows_which_sample_each_key_came_from():
    from skelemix.methods.moco import MemoryQueue

    queue = MemoryQueue(size=4, dim=2)
    assert not queue.held_by(torch.tensor([0, 3])).any()  # the random start belongs to no sample
    queue.enqueue(torch.eye(2)[[0, 1, 0]], torch.tensor([7, 3, 5]))  # slots 0-2
    queue.enqueue(torch.eye(2)[[1, 1]], torch.tensor([9, 7]))  # slot 3, then slot 0 again
    assert queue.owners.tolist() == [7, 3, 5, 9]
    assert queue.held_by(torch.tensor([7, 3, 8])).tolist() == [[True, False, False, False],
                                                                 [False, True, False, False],
                                                                 [False, False, False, False]]
    queue.enqueue(torch.eye(2)[[0]])  # keys without samples (the benchmark's) belong to none
    assert queue.owners.tolist() == [7, -1, 5, 9]


def test_the_queue_marks_encoded_slots_and_leaves_the_random_start_out_on_request():
    from skelemix.methods.moco import MemoryQueue

    queue = MemoryQueue(size=4, dim=2)
    assert not queue.filled.any()
    queue.enqueue(torch.eye(2)[[0, 1]], torch.tensor([5, 6]))  # slots 0, 1
    assert queue.filled.tolist() == [True, True, False, False]
    samples = torch.tensor([5, 7])
    assert queue.not_negatives(2) is None
    assert queue.not_negatives(2, samples).tolist() == [[True, False, False, False],
                                                        [False, False, False, False]]
    assert queue.not_negatives(2, random_start=True).tolist() == [[False, False, True, True]] * 2
    assert queue.not_negatives(2, samples, random_start=True).tolist() == [[True, False, True, True],
                                                                           [False, False, True, True]]
    queue.enqueue(torch.eye(2)[[0, 1]], torch.tensor([8, 9]))  # full: nothing random is left
    assert queue.not_negatives(2, random_start=True) is None
    queue.load_state_dict(MemoryQueue(size=4, dim=2).state_dict())  # an empty queue loaded over a full one
    assert queue.not_negatives(1, random_start=True).tolist() == [[True] * 4]


def test_with_an_empty_start_the_first_step_has_no_negatives():
    """queue_start=empty: at the first step every slot is random, so SkeletonCLR's InfoNCE has only its positive
    logit, -log(1) = 0; with MoCo's random start the same step sees K random negatives and a positive loss."""
    from skelemix.config import load_config
    from skelemix.layouts import get_layout
    from skelemix.methods.skeletonclr import SkeletonCLR

    x, samples = torch.randn(4, 3, 16, 25, 1), torch.arange(4)
    losses = {}
    for start in ("random", "empty"):
        config = load_config(["synthetic", "skeletonclr"], ["encoder.hidden_channels=4", "encoder.out_channels=8",
                                                             "encoder.projection_dim=4", "method.queue_size=6",
                                                             f"method.queue_start={start}"])
        model = SkeletonCLR(config, get_layout("ntu25"))
        losses[start] = model.contrastive_step(x, samples).logs["loss_info"]
        # without dataset indices (as ``skelemix benchmark`` calls it) the random start is still left out
        losses[start + ", no indices"] = model.contrastive_step(x).logs["loss_info"]
    assert losses["empty"].item() == 0.0 and losses["empty, no indices"].item() == 0.0
    assert losses["random"].item() > 0.1 and losses["random, no indices"].item() > 0.1
