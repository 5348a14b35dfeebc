"""Run by tests/test_distributed.py as a script, so that Lightning's DDP launcher can start the second rank.

Usage: python ddp_worker.py DATA RUN_DIR OUT_DIR KEY_BATCHNORM KEY_ENCODER_MODE
Each rank saves, per step, its own keys and the keys that went into the queue, and its final queue and weights.
"""

import sys

import torch
from lightning.pytorch.callbacks import Callback

from skelemix.config import load_config
from skelemix.training import pretrain

data, run_dir, out_dir, key_batchnorm, key_mode = sys.argv[1:6]


class Recorder(Callback):
    def __init__(self):
        self.own, self.queued = [], []

    def on_train_batch_start(self, trainer, module, batch, batch_index):
        if key_mode == "eval":  # keys then depend on each sample alone, not on which batch it was normalised in
            module.key_encoder.eval()
            module.key_projector.eval()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index):
        self.own.append(outputs["keys"].detach().cpu())
        self.queued.append(outputs["queue_keys"].detach().cpu())

    def on_train_end(self, trainer, module):
        torch.save({"own": self.own, "queued": self.queued, "queue": module.queue.keys.cpu(),
                    "pointer": int(module.queue.pointer), "world_size": trainer.world_size,
                    "parameters": [p.detach().cpu() for p in module.trainable_parameters()]},
                   f"{out_dir}/rank{trainer.global_rank}.pt")


config = load_config(["synthetic", "skelemixclr"], [
    f"data.path={data}", "encoder.hidden_channels=8", "method.queue_size=64", "method.mix.min_frames=1",
    "method.mix.max_frames=2", "train.batch_size=8", "train.epochs=1", "train.knn_every=0", "train.precision=32",
    "train.accelerator=cpu", "train.devices=2", "train.strategy=ddp", f"train.key_batchnorm={key_batchnorm}"])
pretrain(config, run_dir, progress=False, callbacks=(Recorder(),))
