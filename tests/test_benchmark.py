"""The benchmarks count the FLOPs the issue's arithmetic predicts and report consistent figures."""

import pytest

from skelemix.benchmark import benchmark_encoder, benchmark_pretrain


def test_flop_count_and_rates_are_consistent():
    r = benchmark_pretrain("skelemixclr+", batch_size=4, frames=64, persons=2, steps=1, warmup=0, queue_size=32)
    # per two-person sample: 4 views forward + backward at 4.56 GFLOP, the key forward at 1.52 (19.8 in all)
    assert r["gflop_per_step"] / 4 == pytest.approx(19.8, rel=0.03)
    assert r["samples_per_s"]["median"] == pytest.approx(4 / r["seconds_per_step"], rel=1e-2)
    assert r["efficiency"] == pytest.approx(r["achieved_gflops"] / r["matmul_fp32_gflops"], rel=1e-2)
    assert r["precision"] == "32-true" and r["peak_rss_gb"] > 0


def test_skeletonclr_step_costs_two_passes_less():
    r = benchmark_pretrain("skeletonclr", batch_size=2, frames=64, persons=2, steps=1, warmup=0, queue_size=32)
    assert r["gflop_per_step"] / 2 == pytest.approx(4.56 + 1.52, rel=0.03)
    with pytest.raises(ValueError, match="method"):
        benchmark_pretrain("simclr")


def test_the_encoder_alone_costs_the_issues_per_sample_figures():
    forward = benchmark_encoder(backward=False, batch_size=2, frames=64, persons=2, steps=1, warmup=0)
    both = benchmark_encoder(backward=True, batch_size=2, frames=64, persons=2, steps=1, warmup=0)
    # per two-person sample: 1.52 GFLOP forward, 4.56 forward + backward
    assert forward["gflop_per_step"] / 2 == pytest.approx(1.52, rel=0.03) and forward["pass"] == "forward"
    assert both["gflop_per_step"] / 2 == pytest.approx(4.56, rel=0.03)
