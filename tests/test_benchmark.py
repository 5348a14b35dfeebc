"""The benchmarks count the FLOPs the issue's arithmetic predicts and report consistent figures."""

import numpy as np
import pytest

from skelemix.benchmark import benchmark_encoder, benchmark_pretrain

# The issue's figures count the reference formulation of the graph convolution (a 1x1 convolution to K C_out
# channels, then aggregation over joints); aggregating first saves 2 T V K V (C_out - C_in) FLOPs per block and
# person: blocks 3->16 and 16->32 at T=64, 32->64 at 32, 64->256 at 16 (K = 3, V = 25), two persons.
SAVED_GFLOP = 2 * 2 * 3 * 25 * 25 * (64 * 13 + 64 * 16 + 32 * 32 + 16 * 192) / 1e9  # per sample, forward: 0.0446


def test_flop_count_and_rates_are_consistent():
    r = benchmark_pretrain("skelemixclr+", batch_size=4, frames=64, persons=2, steps=1, warmup=0, queue_size=32)
    # per two-person sample: 4 views forward + backward at 4.56 GFLOP, the key forward at 1.52 (19.8 in all)
    assert r["gflop_per_step"] / 4 == pytest.approx(19.8 - 13 * SAVED_GFLOP, rel=0.01)
    assert r["samples_per_s"]["median"] == pytest.approx(4 / r["seconds_per_step"], rel=1e-2)
    # efficiency is rounded to 3 decimals: within 5e-4 of the ratio (a loaded machine's is small, so not rel alone)
    assert r["efficiency"] == pytest.approx(r["achieved_gflops"] / r["matmul_fp32_gflops"], rel=1e-2, abs=5e-4)
    assert r["precision"] == "32-true" and r["peak_rss_gb"] > 0


def test_skeletonclr_step_costs_two_passes_less():
    r = benchmark_pretrain("skeletonclr", batch_size=2, frames=64, persons=2, steps=1, warmup=0, queue_size=32)
    assert r["gflop_per_step"] / 2 == pytest.approx(4.56 + 1.52 - 4 * SAVED_GFLOP, rel=0.01)
    with pytest.raises(ValueError, match="method"):
        benchmark_pretrain("simclr")


def test_the_encoder_alone_costs_the_issues_per_sample_figures():
    forward = benchmark_encoder(backward=False, batch_size=2, frames=64, persons=2, steps=1, warmup=0)
    both = benchmark_encoder(backward=True, batch_size=2, frames=64, persons=2, steps=1, warmup=0)
    # per two-person sample: 1.52 GFLOP forward, 4.56 forward + backward
    assert forward["gflop_per_step"] / 2 == pytest.approx(1.52 - SAVED_GFLOP, rel=0.01)
    assert forward["pass"] == "forward"
    assert both["gflop_per_step"] / 2 == pytest.approx(4.56 - 3 * SAVED_GFLOP, rel=0.01)


@pytest.mark.parametrize("recompute", [True, False])
def test_the_breakdown_counts_each_convolution_by_hand_and_shares_the_whole_step(recompute):
    r = benchmark_encoder(backward=True, batch_size=2, frames=64, persons=1, steps=1, warmup=0, breakdown=True,
                          recompute=recompute)
    rows = {row["category"]: row for row in r["breakdown"]}
    widths = [16, 16, 16, 16, 32, 32, 32, 64, 64, 256]
    frames = [64, 64, 64, 64, 32, 32, 32, 16, 16, 16]  # after each block's temporal stride
    inputs = [16] + widths[:-1]
    temporal = sum(2 * c * c * 9 * t * 25 for c, t in zip(widths, frames))  # per sequence, forward, 9x1 kernels
    residual = sum(2 * o * i * t * 25 for o, i, t in zip(widths, inputs, frames) if o != i)  # 1x1 where widths change
    # forward and backward (input and weight gradients): three times the forward's FLOPs, for 2 sequences; the
    # recomputed 1x1 convolutions run their forward again in backward
    assert rows["temporal convolution"]["gflop"] == pytest.approx(3 * 2 * temporal / 1e9, abs=0.01)
    passes = 4 if recompute else 3
    assert rows["1x1 residual convolution"]["gflop"] == pytest.approx(passes * 2 * residual / 1e9, abs=0.005)
    # what the step needs does not depend on what it recomputes: 2.28 GFLOP per one-person sequence, less the
    # graph convolutions' repeated aggregation
    assert r["gflop_per_step"] / 2 == pytest.approx(4.56 / 2 - 3 * SAVED_GFLOP / 2, rel=0.002)  # 1x1s: 0.7%
    assert sum(row["share"] for row in r["breakdown"]) == pytest.approx(1.0, abs=0.01)
    assert rows["BatchNorm"]["gflop"] is None and rows["BatchNorm"]["ms"] > 0
    with pytest.raises(ValueError, match="fast kernels only"):
        benchmark_encoder(batch_size=2, steps=1, warmup=0, breakdown=True, kernels="reference")


def test_inference_rows_per_engine_and_batch_and_consistent_rates(monkeypatch):
    from skelemix import runtime
    from skelemix.benchmark import benchmark_inference, describe

    monkeypatch.setattr(runtime, "bf16_is_fast", lambda accelerator: False)  # the same rows on every CPU
    result = benchmark_inference(frames=16, persons=1, batch_sizes=(1, 3), repeats=2)
    engines = ["pytorch float32"] + (["onnxruntime"] if pytest.importorskip("onnxruntime") else [])
    assert [(r["engine"], r["batch"]) for r in result["inference"]] == [(e, b) for e in engines for b in (1, 3)]
    for row in result["inference"]:
        assert row["clips_per_s"] == pytest.approx(1000 * row["batch"] / row["latency_ms_median"], rel=1e-9)
        assert row["latency_ms_p95"] >= row["latency_ms_median"] > 0
    assert describe(result).count("clips/s") == 4


def test_the_stream_benchmark_classifies_a_window_per_hop_of_its_synthetic_recording():
    from skelemix.benchmark import benchmark_stream, synthetic_kinect_lines
    from skelemix.data.kinect_csv import parse_line

    lines = synthetic_kinect_lines(seconds=2, fps=30)
    timestamps = [parse_line(line, "synthetic")[0] for line in lines]
    assert len(lines) == 60 and np.diff(timestamps) == pytest.approx(1e7 / 30, abs=1)  # 100 ns ticks at 30 fps
    r = benchmark_stream(engine="pytorch")
    assert (r["stream"]["frames"], r["stream"]["hops"]) == (900, (900 - 64) // 8 + 1)
    assert 0 < r["stream"]["latency_ms_median"] <= r["stream"]["latency_ms_p95"] and r["stream"]["frames_per_s"] > 0
