"""Config files, composition, overrides and their errors."""

import pytest

from skelemix.config import CONFIG_DIR, ConfigError, load_config


def test_composition_and_overrides():
    config = load_config(["ntu60_xsub", "skelemixclr_plus"], ["train.epochs=3", "data.stream=bone",
                                                               "train.lr_milestones=[1, 2]", "train.precision=32"])
    assert config.data.benchmark == "xsub" and config.method.queue_size == 32768
    assert config.method.mix.repeats == 3 and config.method.temperature == 0.2 and config.method.momentum == 0.999
    assert (config.train.epochs, config.data.stream, config.train.lr_milestones) == (3, "bone", [1, 2])
    assert config.train.precision == "32"
    assert load_config(["ntu60_xsub", "skeletonclr"]).method.name == "skeletonclr"


def test_defaults_are_the_papers():
    config = load_config()
    assert (config.augment.shear, config.augment.temporal_padding_ratio) == (0.5, 6)
    mix = config.method.mix
    assert (mix.min_parts, mix.max_parts, mix.min_frames, mix.max_frames, mix.weight) == (2, 3, 7, 11, 1.0)
    assert (config.train.lr, config.train.momentum, config.train.weight_decay) == (0.1, 0.9, 1e-4)
    assert (config.eval.knn.k, config.eval.knn.temperature, config.eval.linear.lr) == (20, 0.1, 3.0)


@pytest.mark.parametrize("overrides, message", [
    (["train.epochz=3"], "unknown key 'train.epochz'"),
    (["train.epochs=three"], "train.epochs must be int"),
    (["data.stream=velocity"], "data.stream must be one of joint, motion, bone"),
    (["method.mix.repeats=0"], "repeats must be >= 1"),
    (["train"], "expected key.subkey=value"),
    (["train=3"], "train must be a mapping"),
])
def test_bad_overrides_say_what_and_where(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config([], overrides)


def test_bad_files_name_the_file(tmp_path):
    typo = tmp_path / "typo.yaml"
    typo.write_text("method:\n  tempreature: 0.1\n")
    with pytest.raises(ConfigError, match=f"{typo}: unknown key 'method.tempreature'"):
        load_config([typo])
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config([broken])
    with pytest.raises(ConfigError, match="no such config file or built-in config"):
        load_config(["ntu61_xsub"])


def test_every_built_in_config_loads():
    for path in CONFIG_DIR.glob("*.yaml"):
        load_config([path])


def test_each_choice_is_its_modules_registry():
    """The config names the values of settings whose modules need torch (it does not import torch): each list must
    be its module's own, so that adding a stream, mix mode, encoder variant, method or protocol in its module and
    not here (or the reverse) fails."""
    from skelemix.config import CHOICES, PROTOCOL_SECTIONS
    from skelemix.data.streams import STREAMS
    from skelemix.evaluation.protocols import PROTOCOLS
    from skelemix.methods import METHODS
    from skelemix.mixing import MODES
    from skelemix.models.stgcn import INITS, KERNELS

    assert CHOICES["data.stream"] == STREAMS and CHOICES["method.mix.mode"] == MODES
    assert CHOICES["encoder.init"] == INITS and CHOICES["encoder.kernels"] == KERNELS
    assert CHOICES["method.name"] == tuple(METHODS) and PROTOCOL_SECTIONS == tuple(PROTOCOLS)
