"""SkeleMix regions and partners for every mode, and spatio-temporal mask pooling."""

from itertools import combinations

import pytest
import torch

from skelemix.layouts import get_layout
from skelemix.mixing import SkeleMix, mask_pool

NTU = get_layout("ntu25")
PART_OF = {j: part for part, joints in NTU.parts.items() for j in joints}


def _region(mask: torch.Tensor) -> tuple[list[int], list[int]]:
    frames = mask.any(dim=1).nonzero().flatten().tolist()
    joints = mask.any(dim=0).nonzero().flatten().tolist()
    return frames, joints


def test_mask_pool_averages_inside_and_outside_by_hand():
    # N=1, M=2, C=1, T'=2, V=3; the mask covers (t=0, v=0) and (t=1, v=2)
    feature_map = torch.tensor([[[[[9.0, 2.0, 3.0], [4.0, 5.0, 6.0]]], [[[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]]]]])
    mask = torch.tensor([[True, False, False], [False, False, True]])
    trimmed, truncated = mask_pool(feature_map, mask)
    # person 1: inside (9 + 6) / 2 = 7.5, outside (2 + 3 + 4 + 5) / 4 = 3.5; person 2: (10 + 60) / 2 and 140 / 4
    assert trimmed.tolist() == [[(7.5 + 35.0) / 2]]  # then the mean over the two persons
    assert truncated.tolist() == [[(3.5 + 35.0) / 2]]


@pytest.mark.parametrize("mode", ["swap", "zeros", "gaussian", "random"])
def test_region_is_one_span_of_frames_and_joints_shared_by_the_batch(mode):
    mix = SkeleMix(NTU, mode=mode)
    x = torch.randn(6, 3, 64, 25, 2)
    for trial in range(20):
        mixed, partner, mask = mix(x, torch.Generator().manual_seed(trial))
        assert mask.shape == (16, 25)
        frames, joints = _region(mask)
        assert 7 <= len(frames) <= 11 and frames == list(range(frames[0], frames[-1] + 1))
        assert mask[frames][:, joints].all()  # a full rectangle: every chosen joint in every chosen frame
        parts = {PART_OF[j] for j in joints}
        if mode == "random":  # as many joints as 2 or 3 body parts hold, drawn one by one
            sizes = {sum(len(NTU.parts[p]) for p in c) for r in (2, 3) for c in combinations(NTU.parts, r)}
            assert len(joints) in sizes
        else:
            assert 2 <= len(parts) <= 3 and sorted(joints) == sorted(j for p in parts for j in NTU.parts[p])
        # the input region is 4 frames per feature frame, the same for every sample
        input_mask = mask.repeat_interleave(4, dim=0)[None, None, :, :, None].expand_as(x)
        assert torch.equal(mixed[~input_mask], x[~input_mask])  # outside: untouched
        inside = mixed[input_mask].view(6, 3, -1, 2)
        if mode in ("swap", "random"):
            assert torch.equal(inside, x[partner][input_mask].view(6, 3, -1, 2))
        elif mode == "zeros":
            assert torch.equal(inside, torch.zeros_like(inside))
        else:
            assert not torch.equal(inside, x[input_mask].view(6, 3, -1, 2))
            assert abs(inside.std().item() - 1.0) < 0.2


def test_partner_is_never_the_sample_itself():
    mix = SkeleMix(NTU)
    for n in (2, 3, 7, 32):
        for _ in range(20):
            _, partner, _ = mix(torch.randn(n, 3, 64, 25, 1))
            assert (partner != torch.arange(n)).all()
            assert sorted(partner.tolist()) == list(range(n))  # everyone gives exactly one region


def test_same_generator_seed_gives_the_same_region_whatever_the_batch():
    mix = SkeleMix(NTU)
    _, _, a = mix(torch.randn(4, 3, 64, 25, 1), torch.Generator().manual_seed(5))
    _, _, b = mix(torch.randn(9, 3, 64, 25, 2), torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_region_span_too_long_for_the_sequence_is_a_clear_error():
    with pytest.raises(ValueError, match="feature frames"):
        SkeleMix(NTU)(torch.randn(4, 3, 32, 25, 1))  # 8 feature frames < 11
    with pytest.raises(ValueError, match="mode"):
        SkeleMix(NTU, mode="cutout")



def test_frozen_running_statistics_normalise_with_the_batch_but_keep_the_running_ones():
    from skelemix.methods.skelemixclr import running_statistics_frozen

    norm = torch.nn.BatchNorm1d(2).train()
    batch = torch.tensor([[1.0, 10.0], [3.0, 30.0]])
    with running_statistics_frozen(norm):
        out = norm(batch)
    assert torch.equal(norm.running_mean, torch.zeros(2)) and torch.equal(norm.running_var, torch.ones(2))
    torch.testing.assert_close(out, torch.tensor([[-1.0, -1.0], [1.0, 1.0]]), atol=1e-3, rtol=0)
    assert norm.momentum == 0.1
    norm(batch)
    torch.testing.assert_close(norm.running_mean, torch.tensor([0.2, 2.0]))


@pytest.mark.parametrize("update", [True, False])
def test_skelemixclr_keeps_the_mixed_pass_out_of_the_statistics_when_asked(update):
    from skelemix.config import load_config
    from skelemix.layouts import get_layout
    from skelemix.methods import SkeleMixCLR

    config = load_config("synthetic", ["method.queue_size=64", f"method.mix.update_bn_stats={update}"])
    model = SkeleMixCLR(config, get_layout("ntu25")).train()
    model.augment = torch.nn.Identity()  # the query view is then x itself
    x = torch.randn(4, 3, 64, 25, 1) * 3 + 1
    model.contrastive_step(x)
    # the clean pass alone moves data_bn's running mean from 0 to 0.1 x the batch's per-channel mean
    clean = 0.1 * x.permute(0, 4, 3, 1, 2).reshape(4, 75, 64).mean(dim=(0, 2))
    assert torch.allclose(model.encoder.data_bn.running_mean, clean, atol=1e-6) != update


def test_own_keys_are_excluded_per_view_the_trimmed_view_by_its_partner(monkeypatch):
    """With method.exclude_own_keys, the query and truncated views leave out their own sample's queued keys, the
    trimmed view (the partner's region) the partner's."""
    from skelemix.config import load_config
    from skelemix.layouts import get_layout
    from skelemix.methods import skelemixclr as module
    from skelemix.methods import skeletonclr
    from skelemix.methods.skelemixclr import SkeleMixCLR

    config = load_config(["synthetic", "skelemixclr"], ["encoder.hidden_channels=4", "encoder.out_channels=8",
                                                          "encoder.projection_dim=4", "method.queue_size=6",
                                                          "method.mix.min_frames=1", "method.mix.max_frames=2",
                                                          "method.exclude_own_keys=true"])
    model = SkeleMixCLR(config, get_layout("ntu25"))
    model.queue.enqueue(torch.nn.functional.normalize(torch.randn(6, 4), dim=1), torch.tensor([10, 11, 12, 13, 10, 99]))
    samples = torch.tensor([10, 11, 12, 13])
    calls, partners = [], []
    original_info_nce, original_mix = module.info_nce, model.skelemix.forward

    def recording(*args, excluded=None, **kwargs):
        calls.append(excluded)
        return original_info_nce(*args, excluded=excluded, **kwargs)

    def mix(*args, **kwargs):
        mixed, partner, mask = original_mix(*args, **kwargs)
        partners.append(partner)
        return mixed, partner, mask

    monkeypatch.setattr(module, "info_nce", recording)
    monkeypatch.setattr(skeletonclr, "info_nce", recording)
    monkeypatch.setattr(model.skelemix, "forward", mix)
    model.contrastive_step(torch.randn(4, 3, 16, 25, 1), samples)
    own = model.queue.held_by(samples)
    assert own[0].tolist() == [True, False, False, False, True, False]  # sample 10: slots 0 and 4
    query, trimmed, truncated = calls
    assert torch.equal(query, own) and torch.equal(truncated, own)
    assert torch.equal(trimmed, own[partners[0]]) and not torch.equal(trimmed, own)
    config.method.exclude_own_keys = False
    calls.clear()
    model.contrastive_step(torch.randn(4, 3, 16, 25, 1), samples)
    assert calls == [None, None, None]
