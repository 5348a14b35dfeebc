"""The ``auto`` precision picks bfloat16 only where the hardware makes it fast."""

import pytest

from skelemix import runtime


@pytest.mark.parametrize("flags, expected", [
    ({"avx2", "fma"}, "32-true"),
    ({"avx2", "avx512f", "avx512_bf16"}, "bf16-mixed"),
    ({"avx512f", "amx_bf16", "amx_tile"}, "bf16-mixed"),
])
def test_auto_precision_on_cpu_follows_the_flags(monkeypatch, flags, expected):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset(flags))
    assert runtime.resolve_precision("auto", "cpu") == expected


def test_forcing_bf16_on_a_slow_cpu_warns(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset({"avx2"}))
    with pytest.warns(UserWarning, match="much slower"):
        assert runtime.resolve_precision("bf16", "cpu") == "bf16-mixed"
    assert runtime.resolve_precision("32", "cpu") == "32-true"
    with pytest.raises(ValueError, match="precision"):
        runtime.resolve_precision("fp16", "cpu")
