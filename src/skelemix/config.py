"""Experiment configuration: typed defaults, YAML files, command-line overrides, strict keys.

A YAML file sets any subset of the fields below (nested by section). Several files compose, later ones
winning (a dataset file, then a method file: ``ntu60_xsub skelemixclr_plus``); ``key.sub=value`` overrides
come last, their values parsed as YAML. An unknown key or a value of the wrong type is an error that
names the file (or the override) and the key. Built-in configs ship in ``skelemix/configs/`` and can
be named without the path or the ``.yaml``.

Example:
    >>> cfg = load_config(["ntu60_xsub", "skelemixclr_plus"], ["train.epochs=2", "data.stream=bone"])
    >>> cfg.train.epochs, cfg.method.mix.repeats, cfg.data.stream
    (2, 3, 'bone')
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .data.preprocess import CENTRING, SCALING
from .graph import GRAPHS
from .layouts import BODY_PARTS

CONFIG_DIR = Path(__file__).parent / "configs"


class ConfigError(ValueError):
    """A config file or override is invalid; the message names where and what."""


@dataclass
class PreprocessingConfig:
    """The preparation a recipe was measured with (None: not recorded); pretraining warns on a dataset prepared
    otherwise, since the same recipe on other coordinates can end worse than no pretraining."""

    centring: str | None = None
    rotate: bool | None = None
    scale: str | None = None


@dataclass
class DataConfig:
    # a prepared dataset directory, or a list of them: pretraining draws from the first one's benchmark training
    # split and from every clip that a benchmark of each further one trains on (in the first one's layout);
    # evaluation uses the first one
    path: str | list[str] = "prepared/synthetic"
    benchmark: str = "xsub"  # a key of its splits.json
    stream: str = "joint"  # joint | motion | bone
    num_workers: int = 0  # loader processes; augmentations run on the training device, not in workers
    preprocessing: PreprocessingConfig = field(default_factory=PreprocessingConfig)

    @property
    def paths(self) -> list[str]:
        """Every dataset pretraining reads, the target first."""
        return [self.path] if isinstance(self.path, str) else list(self.path)

    @property
    def target(self) -> str:
        """The dataset whose benchmark is monitored and evaluated."""
        return self.paths[0]


@dataclass
class EncoderConfig:
    hidden_channels: int = 16  # a quarter of ST-GCN's 64
    out_channels: int = 256
    temporal_kernel: int = 9
    dropout: float = 0.5
    projection_dim: int = 128
    graph: str = "stgcn"  # stgcn: ST-GCN's 1 / (degree + 1) partitions | reference: the authors' code's graph
    init: str = "pytorch"  # pytorch defaults | reference: N(0, 0.02) weights, BatchNorm N(1, 0.02), zero biases
    kernels: str = "fast"  # fast: skelemix.ops on CPUs | reference: standard modules only (same function, same file)
    # fast kernels, CPU training: recompute two activations per block in backward instead of keeping them, less
    # peak memory for some speed (what each costs and saves: benchmarks/pretrain.md)
    recompute: bool = True


@dataclass
class AugmentConfig:
    shear: float = 0.5
    temporal_padding_ratio: int = 6
    rotation: float = 0.0  # degrees about the vertical axis (2D: in the image plane); 0: none, as in the paper
    tilt: float = 0.0  # degrees about x (3D)


@dataclass
class MixConfig:
    min_parts: int = 2
    max_parts: int = 3
    min_frames: int = 7  # at the encoder's output rate: 4x as many input frames
    max_frames: int = 11
    mode: str = "swap"  # swap | zeros | gaussian | random
    repeats: int = 1  # R: 1 is SkeleMixCLR, 3 is SkeleMixCLR+
    weight: float = 1.0  # lambda
    update_bn_stats: bool = True  # the mixed passes update BatchNorm's running statistics (as the reference does)


@dataclass
class MethodConfig:
    name: str = "skelemixclr"  # skeletonclr | skelemixclr
    queue_size: int = 32768
    momentum: float = 0.999
    temperature: float = 0.2
    # the keys an earlier epoch queued for a sample are no negatives of it (MoCo, as the paper: they are); on a
    # dataset no larger than the queue every query meets its own sample's stale key otherwise
    exclude_own_keys: bool = False
    # random: the queue starts as random unit vectors that serve as negatives until keys replace them (MoCo, the
    # paper); empty: only encoded keys are negatives, so the first steps meet a few real ones instead of K random ones
    queue_start: str = "random"
    mix: MixConfig = field(default_factory=MixConfig)


@dataclass
class TrainConfig:
    epochs: int = 300
    # > 0: the run lasts about this many optimizer steps whatever the dataset's size; epochs, warm-up and
    # milestones are scaled to it in proportion, and the run's config.yaml records the result (steps then 0)
    steps: int = 0
    batch_size: int = 128  # global: split evenly across devices, so the lr holds for any number of them
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_milestones: list[int] = field(default_factory=lambda: [250])
    lr_gamma: float = 0.1
    warmup_epochs: int = 0  # linear warm-up: epoch e (0-based) runs at lr (e + 1) / warmup_epochs
    precision: str = "auto"  # auto | 32 | bf16
    accelerator: str = "auto"
    devices: int = 1  # per node
    num_nodes: int = 1
    strategy: str = "auto"  # auto | ddp | ddp_spawn (Lightning's)
    key_batchnorm: str = "shuffle"  # with several devices: shuffle (MoCo's batch shuffle) | sync | local
    deterministic: bool = False  # deterministic algorithms: bit-exact reruns and resumes, slower on GPUs
    non_finite: str = "stop"  # a non-finite loss: stop (with the last good checkpoint) | skip the step
    seed: int = 0
    knn_every: int = 10  # epochs between kNN monitors on the test split (0: never); never used for selection
    log_every_n_steps: int = 10


@dataclass
class KnnEval:
    k: int = 20
    temperature: float = 0.1


@dataclass
class LinearEval:  # the paper's linear protocol; the reported accuracy is the final epoch's
    epochs: int = 100
    lr: float = 3.0
    momentum: float = 0.9
    weight_decay: float = 0.0
    milestones: list[int] = field(default_factory=lambda: [80])
    batch_size: int = 128
    standardize: bool = True  # features scaled by the training set's mean and std (reference: raw)
    head_init: str = "pytorch"  # pytorch | reference: N(0, 0.02), zero bias


@dataclass
class FinetuneEval:  # finetune and semi-supervised: the whole network and a linear head, trained (the paper's)
    epochs: int = 110
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: list[int] = field(default_factory=lambda: [50, 70, 90])
    warmup: int = 10  # epochs of linear warm-up from lr / warmup
    batch_size: int = 128
    nesterov: bool = False  # the reference finetunes with Nesterov momentum
    encoder_mode: str = "train"  # train | eval: the reference keeps the model in eval mode while finetuning


@dataclass
class SemiEval:  # semi-supervised: finetune's settings on a class-balanced labelled subset
    seed: int = 0  # draws the labelled subset


@dataclass
class CvEval:  # the linear probe (eval.linear) cross-validated on the training split: folds of subjects or of clips
    folds: int = 5  # class-balanced folds of clips when the training split records a single subject


@dataclass
class EvalConfig:
    batch_size: int = 256  # feature extraction and test passes
    # auto | 32 | bf16 for every protocol. Not auto by default: bf16 can cost the linear protocol on a randomly
    # initialised encoder many points, a baseline made to look worse (docs/CONFIGS.md)
    precision: str = "32"
    knn: KnnEval = field(default_factory=KnnEval)
    linear: LinearEval = field(default_factory=LinearEval)
    finetune: FinetuneEval = field(default_factory=FinetuneEval)
    semi: SemiEval = field(default_factory=SemiEval)
    cv: CvEval = field(default_factory=CvEval)


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# The allowed values of each setting with a closed set of them. Those of torch-free modules are read from them; the
# others (streams, mix modes, encoder variants, methods, precisions) live in modules that import torch, which the
# config does not, so they are written here too and tests/test_config.py checks each against its module's registry.
CHOICES = {
    "data.stream": ("joint", "motion", "bone"),
    "data.preprocessing.centring": CENTRING,
    "data.preprocessing.scale": SCALING,
    "encoder.graph": tuple(GRAPHS),
    "encoder.init": ("pytorch", "reference"),
    "encoder.kernels": ("fast", "reference"),
    "method.name": ("skeletonclr", "skelemixclr"),
    "method.mix.mode": ("swap", "zeros", "gaussian", "random"),
    "method.queue_start": ("random", "empty"),
    "train.precision": ("auto", "32", "bf16"),
    "eval.precision": ("auto", "32", "bf16"),
    "eval.linear.head_init": ("pytorch", "reference"),
    "eval.finetune.encoder_mode": ("train", "eval"),
    "train.strategy": ("auto", "ddp", "ddp_spawn"),
    "train.key_batchnorm": ("shuffle", "sync", "local"),
    "train.non_finite": ("stop", "skip"),
}


def _check_value(where: str, key: str, annotation, value):
    """Return value converted to the field's type, or raise ConfigError."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        alternatives = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None and len(alternatives) < len(typing.get_args(annotation)):
            return None
        if len(alternatives) == 1:
            return _check_value(where, key, alternatives[0], value)
        for alternative in alternatives:  # the first that takes the value
            try:
                return _check_value(where, key, alternative, value)
            except ConfigError:
                pass
        names = " or ".join(typing.get_origin(a).__name__ + " of " + typing.get_args(a)[0].__name__
                            if typing.get_origin(a) else a.__name__ for a in alternatives)
        raise ConfigError(f"{where}: {key} must be {names}, got {value!r}")
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {key} must be a list, got {value!r}")
        return [_check_value(where, key, item_type, v) for v in value]
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # precision: 32 reads as an int
    if not isinstance(value, annotation) or (annotation is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: {key} must be {annotation.__name__}, got {value!r}")
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(f"{where}: {key} must be one of {', '.join(CHOICES[key])}, got {value!r}")
    return value


# the protocols' own settings sections (evaluation.protocols.PROTOCOLS has one protocol each)
PROTOCOL_SECTIONS = tuple(f.name for f in dataclasses.fields(EvalConfig) if dataclasses.is_dataclass(f.default_factory))


def _nest_flat_eval_keys(values: dict) -> dict:
    """Configs written before the eval section was nested (``eval.linear_lr``, run directories of earlier versions)
    -> the nested form (``eval.linear.lr``)."""
    nested: dict = {}
    for key, value in values.items():
        protocol, _, rest = str(key).partition("_")
        if protocol in PROTOCOL_SECTIONS and rest:
            nested.setdefault(protocol, {})[rest] = value
        else:
            nested[key] = value
    return nested


def _apply(target, values: dict, where: str, prefix: str = "") -> None:
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'the file'} must be a mapping, got {values!r}")
    if prefix == "eval.":
        values = _nest_flat_eval_keys(values)
    hints = typing.get_type_hints(type(target))
    for key, value in values.items():
        full = prefix + str(key)
        if key not in hints:
            known = ", ".join(prefix + f.name for f in dataclasses.fields(target))
            raise ConfigError(f"{where}: unknown key {full!r} (known: {known})")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            _apply(current, value, where, full + ".")
        else:
            setattr(target, key, _check_value(where, full, hints[key], value))


def resolve_config_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    builtin = CONFIG_DIR / f"{Path(name_or_path).stem}.yaml"
    if builtin.is_file() and path.suffix in ("", ".yaml") and len(path.parts) == 1:
        return builtin
    known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
    raise ConfigError(f"{name_or_path}: no such config file or built-in config (built-in: {known})")


def split_arguments(arguments: typing.Sequence[str]) -> tuple[list[str], list[str]]:
    """Command-line config arguments -> (config names or paths, key=value overrides)."""
    return [a for a in arguments if "=" not in a], [a for a in arguments if "=" in a]


def load_config(files: str | Path | typing.Sequence[str | Path] = (), overrides: typing.Sequence[str] = (),
                base: Config | None = None) -> Config:
    """Defaults (or a copy of ``base``), then YAML files in order (paths or built-in names), then ``key=value``
    overrides."""
    config = copy.deepcopy(base) if base is not None else Config()
    for name_or_path in [files] if isinstance(files, (str, Path)) else files:
        path = resolve_config_path(name_or_path)
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: invalid YAML ({error})".replace("\n", " ")) from None
        _apply(config, values, str(path))
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {override!r}: expected key.subkey=value")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        nested: dict = {}
        cursor = nested
        *parents, leaf = key.split(".")
        for part in parents:
            cursor = cursor.setdefault(part, {})
        cursor[leaf] = value
        _apply(config, nested, f"override {override!r}")
    validate(config)
    return config


def evaluation_config(trained: Config, files=(), overrides=()) -> Config:
    """A trained model's config with evaluation settings changed; changing anything outside ``eval`` is an error,
    since the model was trained with it."""
    config = load_config(files, overrides, base=trained)
    changed = [section for section in ("data", "encoder", "augment", "method", "train")
               if getattr(config, section) != getattr(trained, section)]
    if changed:
        raise ConfigError(f"evaluation may change only eval.* settings; these change {', '.join(changed)}")
    return config


def config_from_dict(values: dict, where: str = "checkpoint") -> Config:
    config = Config()
    _apply(config, values, where)
    validate(config)
    return config


def validate(config: Config) -> None:
    """Cross-field checks that a single field's type cannot express."""
    mix, train = config.method.mix, config.train
    checks = [
        (config.method.queue_size >= 1, "method.queue_size must be >= 1"),
        (0 <= config.method.momentum < 1, "method.momentum must be in [0, 1)"),
        (config.method.temperature > 0, "method.temperature must be > 0"),
        (1 <= mix.min_parts <= mix.max_parts <= len(BODY_PARTS),
         f"method.mix needs 1 <= min_parts <= max_parts <= {len(BODY_PARTS)}"),
        (1 <= mix.min_frames <= mix.max_frames, "method.mix needs 1 <= min_frames <= max_frames"),
        (mix.repeats >= 1, "method.mix.repeats must be >= 1"),
        (train.epochs >= 1, "train.epochs must be >= 1"),
        (train.steps >= 0, "train.steps must be >= 0 (0: the schedule is in epochs)"),
        (train.batch_size >= 2, "train.batch_size must be >= 2"),
        (train.lr > 0, "train.lr must be > 0"),
        (train.warmup_epochs >= 0, "train.warmup_epochs must be >= 0"),
        (train.knn_every >= 0, "train.knn_every must be >= 0"),
        (train.devices >= 1 and train.num_nodes >= 1, "train.devices and train.num_nodes must be >= 1"),
        (train.batch_size % (train.devices * train.num_nodes) == 0,
         f"train.batch_size {train.batch_size} does not split evenly over {train.devices * train.num_nodes} "
         f"devices (train.devices x train.num_nodes)"),
        (config.eval.knn.k >= 1, "eval.knn.k must be >= 1"),
        (config.eval.cv.folds >= 2, "eval.cv.folds must be >= 2"),
        (config.eval.knn.temperature > 0, "eval.knn.temperature must be > 0"),
        (config.eval.linear.epochs >= 1 and config.eval.linear.lr > 0 and config.eval.linear.batch_size >= 1,
         "eval.linear needs epochs >= 1, lr > 0 and batch_size >= 1"),
        (config.eval.finetune.lr > 0 and config.eval.finetune.batch_size >= 1,
         "eval.finetune needs lr > 0 and batch_size >= 1"),
        (config.eval.batch_size >= 1, "eval.batch_size must be >= 1"),
        (min(config.encoder.hidden_channels, config.encoder.out_channels, config.encoder.projection_dim) >= 1,
         "encoder.hidden_channels, out_channels and projection_dim must be >= 1"),
        (config.encoder.temporal_kernel >= 1 and config.encoder.temporal_kernel % 2 == 1,
         "encoder.temporal_kernel must be odd and >= 1"),
        (0 <= config.encoder.dropout < 1, "encoder.dropout must be in [0, 1)"),
        (config.eval.finetune.epochs >= 1 and config.eval.finetune.warmup >= 0,
         "eval.finetune.epochs must be >= 1 and eval.finetune.warmup >= 0"),
        (config.data.num_workers >= 0, "data.num_workers must be >= 0"),
        (bool(config.data.paths) and all(isinstance(p, str) and p for p in config.data.paths),
         "data.path must name at least one prepared dataset"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


__all__ = ["Config", "ConfigError", "load_config", "config_from_dict", "resolve_config_path", "split_arguments"]
