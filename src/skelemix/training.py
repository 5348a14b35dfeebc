"""Pretraining entry point: config -> Lightning Trainer -> run directory; resuming a run that was stopped.

A run directory holds ``config.yaml`` (the resolved config), ``checkpoints/`` (see :mod:`skelemix.checkpoints`),
CSV and TensorBoard logs (``logs/``; a resumed session logs to ``logs/resumed-N``), and later
``evaluation/*.json``. Devices, nodes and the distributed strategy come from the config's ``train`` section and
go to Lightning; ``train.batch_size`` is the global batch, split evenly across the ranks.

Example:
    >>> from skelemix.config import load_config
    >>> run_dir = pretrain(load_config("skelemixclr_synthetic", ["train.epochs=1"]), "runs/try")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from .checkpoints import INTERRUPTED, AtomicCheckpointIO, batches_done_in_epoch, read_checkpoint, resume_checkpoint
from .config import Config, ConfigError, config_from_dict, load_config, split_arguments
from .data.format import DATASETS_FILE, PreparedDataset, fingerprint
from .data.loading import PretrainingClips, loader, split_loader
from .evaluation.features import extract_features
from .evaluation.knn import knn_classify
from .evaluation.results import top_k_accuracy
from .methods import METHODS
from .models.stgcn import TEMPORAL_DOWNSAMPLING
from .rundir import claim_run_dir
from .runtime import quiet_lightning, resolve_precision
from .schedule import epochs_for_steps


class KnnMonitor(Callback):
    """Every ``every`` epochs, kNN top-1 of the query backbone on the benchmark's test split (on rank 0).

    A monitor only: nothing is selected with it, the final checkpoint is the one evaluated.
    """

    def __init__(self, prepared: PreparedDataset, config: Config, every: int):
        self.prepared, self.config, self.every = prepared, config, every

    def on_train_epoch_end(self, trainer, module):
        epoch = trainer.current_epoch + 1
        if self.every == 0 or (epoch % self.every and epoch != trainer.max_epochs) or not trainer.is_global_zero:
            return
        data, ev = self.config.data, self.config.eval
        loaders = [split_loader(self.prepared, data.benchmark, part, ev.batch_size) for part in ("train", "test")]
        accelerator = module.device.type
        (train_x, train_y), (test_x, test_y) = (
            extract_features(module, loader, accelerator, trainer.precision) for loader in loaders)
        ranking = knn_classify(train_x, train_y, test_x, self.prepared.num_classes, ev.knn.k, ev.knn.temperature)
        module.log("monitor/knn_top1", top_k_accuracy(ranking, test_y, 1), prog_bar=True, rank_zero_only=True)
        module.train()


class SaveOnInterrupt(Callback):
    """Ctrl-C finishes the current step, saves checkpoints/interrupted.ckpt and stops the run.

    Stopping between steps, never inside one, keeps the saved queue, weights and optimizer consistent; with
    several ranks they agree on the step (any rank's request stops all).
    """

    def __init__(self, run_dir: Path):
        self.path = run_dir / "checkpoints" / INTERRUPTED
        self.requested = False
        self.message = ""
        self.previous_handler = None

    def _request(self, signum, frame) -> None:
        self.requested = True

    def on_train_start(self, trainer, module):
        self.previous_handler = signal.signal(signal.SIGINT, self._request)

    def on_train_end(self, trainer, module):
        signal.signal(signal.SIGINT, self.previous_handler or signal.default_int_handler)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index):
        if trainer.strategy.reduce_boolean_decision(self.requested, all=False):
            trainer.save_checkpoint(self.path, weights_only=False)
            self.on_train_end(trainer, module)
            self.message = (f"interrupted at step {trainer.global_step}; saved {self.path}; continue with "
                            f"`skelemix pretrain --resume {self.path.parent.parent}`")
            raise KeyboardInterrupt(self.message)


class EpochLines(Callback):
    """One line per finished epoch on stdout (rank 0): loss, samples/s, elapsed time, ETA and, on monitor epochs, kNN.
    Used instead of the progress bar when stdout is not a terminal (nohup, CI, a pipe into tee), where a bar shows
    nothing readable.

    ``batch_size``: the global batch; ``knn_every``: the monitor's period (0: none).
    """

    def __init__(self, batch_size: int, knn_every: int = 0):
        self.batch_size, self.knn_every = batch_size, knn_every
        self.started = self.epoch_started = 0.0
        self.first_epoch = 0

    def on_train_start(self, trainer, module):
        self.started, self.first_epoch = time.time(), trainer.current_epoch  # a resumed run starts later

    def on_train_epoch_start(self, trainer, module):
        self.epoch_started = time.time()

    def on_train_epoch_end(self, trainer, module):
        if not trainer.is_global_zero:
            return
        now, epoch, metrics = time.time(), trainer.current_epoch + 1, trainer.callback_metrics
        elapsed = now - self.started
        parts = [f"epoch {epoch}/{trainer.max_epochs}"]
        if "train/loss_epoch" in metrics:
            parts.append(f"loss {float(metrics['train/loss_epoch']):.4f}")
        parts += [f"{trainer.num_training_batches * self.batch_size / max(now - self.epoch_started, 1e-9):.1f} "
                  f"samples/s", f"elapsed {_clock(elapsed)}",
                  f"ETA {_clock(elapsed / (epoch - self.first_epoch) * (trainer.max_epochs - epoch))}"]
        monitored = self.knn_every and (epoch % self.knn_every == 0 or epoch == trainer.max_epochs)
        if monitored and "monitor/knn_top1" in metrics:
            parts.append(f"kNN {float(metrics['monitor/knn_top1']):.2f}")
        print("  ".join(parts), flush=True)


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def fit_to_steps(config: Config, steps_per_epoch: int) -> Config:
    """``config`` with its schedule in epochs fitted to ``train.steps`` optimizer steps (``steps`` then 0)."""
    train = config.train
    epochs, warmup, milestones = epochs_for_steps(train.steps, max(1, steps_per_epoch), train.epochs,
                                                  train.warmup_epochs, train.lr_milestones)
    fitted = dataclasses.replace(train, steps=0, epochs=epochs, warmup_epochs=warmup, lr_milestones=milestones)
    print(f"skelemix: train.steps={train.steps} at {steps_per_epoch} steps per epoch: {epochs} epochs, warm-up "
          f"{warmup}, lr milestones {milestones}")
    return dataclasses.replace(config, train=fitted)


def preprocessing_warnings(config: Config, datasets: list[PreparedDataset]) -> list[str]:
    """One line per dataset prepared otherwise than the recipe was measured with (``data.preprocessing``), and per
    further dataset prepared otherwise than the first: the same network on other coordinates learns other things,
    and on a small dataset that can end below a random encoder."""
    warnings = []
    expected = {key: value for key, value in dataclasses.asdict(config.data.preprocessing).items() if value is not None}
    for prepared in datasets:
        recorded = prepared.info.get("preprocessing", {})
        differ = {key: value for key, value in expected.items() if recorded.get(key) != value}
        if differ:
            flags = " ".join(f"--{key}" if value is True else f"--no-{key}" if value is False else f"--{key} {value}"
                             for key, value in differ.items())
            warnings.append(f"{prepared.path} was prepared with "
                            + ", ".join(f"{key}={recorded.get(key)}" for key in differ)
                            + " but this recipe was measured with "
                            + ", ".join(f"{key}={value}" for key, value in differ.items())
                            + f"; prepare it again with {flags} (docs/OWN_DATA.md)")
    first = {key: datasets[0].info.get("preprocessing", {}).get(key)
             for key in (f.name for f in dataclasses.fields(config.data.preprocessing))}
    for prepared in datasets[1:]:
        other = {key: prepared.info.get("preprocessing", {}).get(key) for key in first}
        if other != first:
            warnings.append(f"{prepared.path} was prepared with "
                            + ", ".join(f"{key}={value}" for key, value in other.items())
                            + f", unlike {datasets[0].path} ("
                            + ", ".join(f"{key}={value}" for key, value in first.items())
                            + "): their clips are not on the same footing")
    return warnings


def summary_line(model: L.LightningModule, config: Config, datasets: list[PreparedDataset], clips: list[int],
                 steps_per_epoch: int, trainer: L.Trainer, precision: str) -> str:
    """What is about to run, in two lines: method and data; network size, schedule and device."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    momentum = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    mix = config.method.mix
    method = config.method.name + (f" (R={mix.repeats}, lambda={mix.weight:g})" if config.method.name != "skeletonclr"
                                   else "")
    target = datasets[0]
    more = "".join(f" + {d.name} ({n})" for d, n in zip(datasets[1:], clips[1:]))
    return (f"pretraining {method} on {target.name} {config.data.benchmark} train ({clips[0]} sequences){more}, "
            f"{config.data.stream} stream, layout {target.layout.name}\n"
            f"  {trainable / 1e6:.2f}M trainable parameters (+{momentum / 1e6:.2f}M momentum copies), "
            f"{config.train.epochs} epochs x {steps_per_epoch} steps of {config.train.batch_size}, "
            f"{trainer.world_size} x {trainer.strategy.root_device.type}, precision {precision}")


def resolve_run(arguments: list[str], run_dir: str | Path | None = None, resume: str | Path | None = None
                ) -> tuple[Config, Path]:
    """The config and run directory of a pretraining request. ``arguments``: config names or paths, then key=value
    overrides. A new run composes the files and overrides (at least one file) in ``run_dir`` (default
    ``runs/<configs>-<time>``); ``resume`` continues that run with its own config.yaml and the overrides alone (e.g.
    a longer schedule)."""
    files, overrides = split_arguments(arguments)
    if resume is not None:
        resume = Path(resume)
        if files or run_dir is not None:
            raise ConfigError("--resume continues a run with its own config.yaml: give only key=value overrides")
        if not (resume / "config.yaml").is_file():
            raise ConfigError(f"{resume}: not a skelemix run directory (no config.yaml)")
        return load_config([resume / "config.yaml"], overrides), resume
    if not files:
        raise ConfigError("give at least one config (e.g. `skelemix pretrain demo`), or --resume RUN_DIR")
    config = load_config(files, overrides)
    default = Path("runs") / f"{'-'.join(Path(f).stem for f in files)}-{time.strftime('%Y%m%d-%H%M%S')}"
    return config, Path(run_dir) if run_dir is not None else default


def make_run_dir(run_dir: str | Path) -> Path:
    """Check a new run's (claimed) directory; fail now, not after hours, if it cannot be written or already holds a
    run."""
    run_dir = Path(run_dir)
    if (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").iterdir()):
        raise FileExistsError(f"{run_dir}: already holds a pretraining run; choose another --run-dir, or "
                              f"continue it with --resume")
    try:
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise OSError(f"{run_dir}: cannot write the run directory ({error.strerror})") from None
    return run_dir


# what a resumed run cannot change: the network's tensors, the method and the data's stream (the layout is checked
# against the checkpoint's)
FIXED_ON_RESUME = ("encoder.hidden_channels", "encoder.out_channels", "encoder.temporal_kernel",
                   "encoder.projection_dim", "encoder.graph", "method.name", "method.queue_size", "data.stream")


def check_resumable(config: Config, run_dir: Path, state: dict, prepared: PreparedDataset) -> None:
    """Fail, naming the key, when ``config`` (the run's config.yaml with overrides) changes what the checkpoint
    ``state``'s tensors and the run's method (its config) fix, asks for fewer epochs than it has done, or the dataset
    has another layout than the checkpoint's."""
    trained = state["hyper_parameters"]
    saved = config_from_dict(trained["config"], where=f"{run_dir}'s checkpoint")
    for key in FIXED_ON_RESUME:
        section, name = key.split(".")
        old, new = getattr(getattr(saved, section), name), getattr(getattr(config, section), name)
        if old != new:
            raise ConfigError(f"--resume {run_dir}: {key}={new} differs from the run's {old}; a resumed run keeps "
                              f"its network, method and stream (start a new run for another)")
    if config.train.epochs < state.get("epoch", 0):
        raise ConfigError(f"--resume {run_dir}: train.epochs={config.train.epochs} is fewer than the "
                          f"{state['epoch']} epochs the run has done")
    if trained.get("layout", prepared.layout.name) != prepared.layout.name:
        raise ConfigError(f"--resume {run_dir}: data.path {prepared.path} has layout {prepared.layout.name}, the "
                          f"run's encoder {trained['layout']}")


def with_absolute_paths(config: Config) -> Config:
    """``config`` with its datasets' paths absolute, so that the run reads the same data from any directory."""
    paths = [str(Path(path).resolve()) for path in config.data.paths]
    path = paths[0] if isinstance(config.data.path, str) else paths
    return dataclasses.replace(config, data=dataclasses.replace(config.data, path=path))


def check_free_space(run_dir: Path, model: L.LightningModule) -> None:
    """Fail before training if the disk cannot hold the checkpoints (latest, previous and one being written)."""
    tensors = [*model.parameters(), *model.buffers()]
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    checkpoint = sum(t.numel() * t.element_size() for t in tensors) + trainable  # + SGD momentum
    needed = 3 * checkpoint + 50 * 2**20  # and room for logs
    free = shutil.disk_usage(run_dir).free
    if free < needed:
        raise OSError(f"{run_dir}: only {free / 2**20:.0f} MiB free; checkpoints need about "
                      f"{needed / 2**20:.0f} MiB (three copies during a save, plus logs)")


def pretrain(config: Config, run_dir: str | Path, progress: bool = True, resume: bool = False,
             callbacks: tuple[Callback, ...] = ()) -> Path:
    """Pretrain the configured method on the configured dataset; returns the run directory.

    ``resume``: continue the run in ``run_dir`` from its newest readable checkpoint (``config`` should be
    the run's own, with at most a longer schedule). ``callbacks`` are added to the Trainer's.
    """
    quiet_lightning()
    datasets = [PreparedDataset(path) for path in config.data.paths]
    prepared = datasets[0]
    clips = PretrainingClips(datasets, config.data.benchmark)  # fails early on a wrong benchmark name
    feature_frames = clips.frames // TEMPORAL_DOWNSAMPLING
    if config.method.name != "skeletonclr" and config.method.mix.max_frames > feature_frames:
        raise ConfigError(f"method.mix.max_frames={config.method.mix.max_frames} is more than the {feature_frames} "
                          f"feature frames of {prepared.path}'s {clips.frames}-frame clips (a quarter of them)")
    if len(clips) < config.train.batch_size:
        raise ValueError(f"{prepared.path}: fewer training samples than one batch of {config.train.batch_size}")
    if config.train.steps:
        config = fit_to_steps(config, len(clips) // config.train.batch_size)
    for warning in preprocessing_warnings(config, datasets):
        print(f"skelemix: warning: {warning}", file=sys.stderr)
    run_dir = Path(run_dir)
    with claim_run_dir(run_dir, resume) as claim:
        checkpoint, version, batches_done = None, "", 0
        if resume:
            checkpoint, notes = resume_checkpoint(run_dir)
            state = read_checkpoint(checkpoint)
            check_resumable(config, run_dir, state, prepared)
            batches_done = batches_done_in_epoch(state)
            for note in notes:
                print(f"skelemix: {note}")
            version = f"resumed-{len(list((run_dir / 'logs').glob('resumed-*'))) + 1}"
        else:
            make_run_dir(run_dir)
            config = with_absolute_paths(config)
        L.seed_everything(config.train.seed, workers=True, verbose=False)
        model = METHODS[config.method.name](config, prepared.layout)
        check_free_space(run_dir, model)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
        if not resume:
            (run_dir / DATASETS_FILE).write_text(json.dumps([fingerprint(d) for d in datasets], indent=2))
        claim.started()
        return _fit(config, run_dir, model, datasets, clips, checkpoint, batches_done, version, progress, callbacks)


def _fit(config: Config, run_dir: Path, model: L.LightningModule, datasets: list[PreparedDataset],
         clips: PretrainingClips, checkpoint: Path | None, batches_done: int, version: str, progress: bool,
         callbacks: tuple[Callback, ...]) -> Path:
    """Train ``model`` in the claimed ``run_dir`` (from ``checkpoint`` when resuming, which had done
    ``batches_done`` batches of its epoch); write the summary."""
    prepared = datasets[0]
    split = prepared.split(config.data.benchmark)
    train = config.train
    precision = resolve_precision(train.precision, train.accelerator)
    interrupt = SaveOnInterrupt(run_dir)
    knn_every = train.knn_every if split["test"] else 0  # a benchmark without test samples has nothing to monitor
    bar = progress and sys.stdout.isatty()
    lines = [EpochLines(train.batch_size, knn_every)] if progress and not bar else []
    trainer = L.Trainer(
        max_epochs=train.epochs, accelerator=train.accelerator, devices=train.devices, num_nodes=train.num_nodes,
        strategy=train.strategy, sync_batchnorm=train.key_batchnorm == "sync", deterministic=train.deterministic,
        precision=precision, default_root_dir=run_dir, plugins=[AtomicCheckpointIO()],
        logger=[CSVLogger(run_dir, name="logs", version=version),
                TensorBoardLogger(run_dir, name="logs", version=version)],
        # one checkpoint, overwritten at every epoch's end (the one before kept as last.previous.ckpt)
        callbacks=[ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="last", save_top_k=1,
                                   enable_version_counter=False),
                   LearningRateMonitor(),
                   KnnMonitor(prepared, config, knn_every), interrupt, *lines, *callbacks],
        enable_progress_bar=bar, enable_model_summary=False,
    )
    if train.batch_size % trainer.world_size:  # under a launcher whose world differs from the config's
        raise ValueError(f"train.batch_size {train.batch_size} does not split evenly over {trainer.world_size} "
                         f"ranks")
    per_rank = train.batch_size // trainer.world_size
    train_loader = loader(clips, per_rank, shuffle=True, drop_last=True, num_workers=config.data.num_workers)
    train_loader.batches_done = batches_done  # a checkpoint written mid-epoch continues that epoch's order after them
    if len(train_loader) < trainer.world_size:
        raise ValueError(f"{prepared.path}: fewer training samples than one batch of {train.batch_size}")
    trainer.log_every_n_steps = min(train.log_every_n_steps, len(train_loader) // trainer.world_size)
    if progress and trainer.is_global_zero:
        print(summary_line(model, config, datasets, clips.counts, len(train_loader), trainer, precision), flush=True)
    commit, started = source_commit(), time.time()  # the code this run starts with
    try:
        trainer.fit(model, train_loader, ckpt_path=checkpoint, weights_only=True)
    except SystemExit:
        if trainer.interrupted:  # Lightning exits on KeyboardInterrupt and SIGTERM; report it as an interrupt
            stopped = (f"stopped at step {trainer.global_step}, inside an epoch; continue from the last finished "
                       f"epoch with `skelemix pretrain --resume {run_dir}`") if trainer.global_step else \
                "interrupted before the first step ended"
            raise KeyboardInterrupt(interrupt.message or stopped) from None
        raise
    if trainer.is_global_zero:
        (run_dir / "pretrain_summary.yaml").write_text(yaml.safe_dump({
            "method": config.method.name, "mixes": config.method.mix.repeats, "dataset": prepared.name,
            "benchmark": config.data.benchmark, "stream": config.data.stream, "epochs": train.epochs,
            # clips: what each dataset contributed to pretraining
            "pretrained_on": [{"dataset": d.name, "path": str(d.path.resolve()), "clips": n}
                              for d, n in zip(datasets, clips.counts)],
            "devices": trainer.world_size, "precision": precision, "seconds": round(time.time() - started, 1),
            "torch": str(torch.__version__), "commit": commit,
        }, sort_keys=False))
    return run_dir


def source_commit() -> str:
    """The short git hash of the skelemix source that runs ("-dirty" with uncommitted changes; "unknown" when it
    is not a git checkout, e.g. an installed wheel)."""
    here = Path(__file__).parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "."],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def pretrain_seeds(config: Config, run_dir: str | Path, seeds: list[int], progress: bool = True) -> list[Path]:
    """One run per seed (``train.seed``), in ``run_dir/seed-S``; a seed whose run already finished is kept, one that
    was stopped is resumed. Returns the run directories in the order of ``seeds``."""
    runs = []
    for seed in seeds:
        seed_dir = Path(run_dir) / f"seed-{seed}"
        seeded = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed))
        if not (seed_dir / "pretrain_summary.yaml").is_file():
            started = (seed_dir / "checkpoints").is_dir() and any((seed_dir / "checkpoints").iterdir())
            pretrain(seeded, seed_dir, progress=progress, resume=started)
        runs.append(seed_dir)
    return runs
