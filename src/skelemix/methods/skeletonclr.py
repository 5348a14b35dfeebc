"""SkeletonCLR (Li et al., CVPR 2021): MoCo v2 on skeleton sequences, as a Lightning module.

A batch (N, C, T, V, M) of joint coordinates gets two independent views (Shear, Temporal Crop), each turned
into the configured stream. The query view goes through the query encoder and projection head, the key view
through their momentum copies; InfoNCE (Eq. 1) contrasts each query with its key against the queue, and the
batch's keys (gathered from every rank, in rank order) enter the queue afterwards, so that every rank holds
the same queue whatever the number of ranks.

With several ranks the key encoder's BatchNorm sees, by default, a batch shuffled across ranks (MoCo's
"shuffle BN": a query and its key are normalised with different batch statistics, which keeps the
encoder from cheating through them); ``train.key_batchnorm=sync`` uses SyncBatchNorm everywhere instead and
``local`` each rank's own batch.

Example:
    >>> from skelemix.config import load_config
    >>> from skelemix.layouts import get_layout
    >>> model = SkeletonCLR(load_config("skeletonclr_synthetic"), get_layout("ntu25"))   # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import lightning as L
import torch
import torch.nn.functional as F

from ..augmentations import ViewAugmentation
from ..checkpoints import FORMAT_VERSION, restore_rng_states, rng_states
from ..config import Config, config_from_dict
from ..data.streams import to_stream
from ..layouts import SkeletonLayout, get_layout
from ..schedule import lr_factor
from ..models import STGCN, ProjectionHead
from ..models.stgcn import reference_init_
from .moco import MemoryQueue, info_nce, momentum_update


def gradient_stand_in(parameters: list[torch.Tensor], gradients: list[torch.Tensor]) -> torch.Tensor:
    """A scalar whose gradient with respect to each parameter is the given one: sum_i <p_i, g_i> with g fixed."""
    return sum((p * g.detach()).sum() for p, g in zip(parameters, gradients, strict=True))


class SkeletonCLR(L.LightningModule):
    def __init__(self, config: Config | dict, layout: SkeletonLayout | str):
        super().__init__()
        config = config if isinstance(config, Config) else config_from_dict(config)
        layout = layout if isinstance(layout, SkeletonLayout) else get_layout(layout)
        # plain types only, so that checkpoints load with weights_only=True
        self.save_hyperparameters({"config": config.to_dict(), "layout": layout.name})
        self.config, self.layout = config, layout
        enc = config.encoder
        self.encoder = STGCN.from_config(layout, enc)
        self.projector = ProjectionHead(enc.out_channels, enc.out_channels, enc.projection_dim)
        if enc.init == "reference":
            reference_init_(self.projector)
        # the key side starts as an exact copy and is never trained by gradients
        self.key_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
        self.key_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.queue = MemoryQueue(config.method.queue_size, enc.projection_dim)
        augment = config.augment
        self.augment = ViewAugmentation(augment.shear, augment.temporal_padding_ratio, layout.spatial_channels,
                                        augment.rotation, augment.tilt)
        self.skipped_steps = 0

    @property
    def stream(self) -> str:
        return self.config.data.stream

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features (N, out_channels) of joint coordinates (N, C, T, V, M): what evaluation uses."""
        return self.encoder(to_stream(x, self.stream, self.layout))

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        """(N, out_channels) -> L2-normalised (N, projection_dim)."""
        return F.normalize(self.projector(pooled), dim=1)

    @property
    def world_size(self) -> int:
        return self.trainer.world_size if self._trainer is not None else 1

    def step_generator(self, purpose: int = 0) -> torch.Generator:
        """A CPU generator seeded by (seed, global step, purpose): the same draws on every rank."""
        return torch.Generator().manual_seed(self.config.train.seed * 1_000_003 + self.global_step + purpose * 2**40)

    @torch.no_grad()
    def update_key_side(self) -> None:
        """The momentum step: the key encoder and head move (1 - m) of the way to the query side's weights."""
        momentum_update(self.key_encoder, self.encoder, self.config.method.momentum)
        momentum_update(self.key_projector, self.projector, self.config.method.momentum)

    def on_train_batch_end(self, outputs, batch, batch_index) -> None:
        # after the optimizer step, so the next step's keys come from the updated key side (MoCo updates just before
        # encoding the keys: the same sequence of weights)
        self.update_key_side()

    @torch.no_grad()
    def keys(self, view: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised keys of a stream-converted view (N, ...) from the momentum encoder:
        (this rank's (N, D), every rank's in rank order (W N, D))."""

        def encode(x: torch.Tensor) -> torch.Tensor:
            return F.normalize(self.key_projector(self.key_encoder(x)), dim=1)

        if self.world_size == 1:
            k = encode(view)
            return k, k
        n, rank = len(view), self.global_rank
        if self.config.train.key_batchnorm == "shuffle":
            everything = self.all_gather(view).flatten(0, 1)  # (W N, ...)
            order = torch.randperm(len(everything), generator=self.step_generator(purpose=1)).to(view.device)
            shuffled = self.all_gather(encode(everything[order[rank * n:(rank + 1) * n]])).flatten(0, 1)
            gathered = torch.empty_like(shuffled)
            gathered[order] = shuffled
        else:
            gathered = self.all_gather(encode(view)).flatten(0, 1)
        return gathered[rank * n:(rank + 1) * n], gathered

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters SGD updates: not the momentum-updated key side."""
        return [p for p in self.parameters() if p.requires_grad]

    def contrastive_losses(self, x: torch.Tensor, samples: torch.Tensor | None = None, gradients: bool = False
                           ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor, torch.Tensor,
                                      list[torch.Tensor] | None]:
        """x: (N, C, T, V, M) and its dataset indices ``samples`` (N,) -> (loss, values to log, this rank's keys (N, D),
        every rank's keys (W N, D) for the queue, and with ``gradients`` the loss's gradient for each of
        ``trainable_parameters()``). With ``method.exclude_own_keys`` (and ``samples``) the keys an earlier step
        queued for the same sample are no negatives of it; with ``method.queue_start=empty`` neither are the queue's
        random start vectors, until encoded keys replace them.

        The loss is a sum of terms with one encoder pass each (``loss_terms``). With ``gradients`` each term is
        differentiated as soon as it is computed, which frees that pass's activations before the next pass
        starts: the same gradient as one backward of the sum, with one pass's activations alive at a time instead
        of all of them (SkeleMixCLR+ has four). The loss then comes back detached.
        """
        query_view = to_stream(self.augment(x), self.stream, self.layout)
        key_view = to_stream(self.augment(x), self.stream, self.layout)
        k, all_keys = self.keys(key_view)
        # a snapshot: the queue is updated in place before backward, and the logits' gradient needs it
        negatives = self.queue.keys.clone()
        method = self.config.method
        excluded = self.queue.not_negatives(len(x), samples if method.exclude_own_keys else None,
                                            random_start=method.queue_start == "empty")
        trainable = self.trainable_parameters()
        loss, logs, summed = torch.zeros((), device=x.device), {}, None
        for term, term_logs in self.loss_terms(query_view, k, negatives, excluded):
            logs.update(term_logs)  # a later term's values replace an earlier one's
            if gradients:
                grads = torch.autograd.grad(term, trainable, materialize_grads=True)
                summed = list(grads) if summed is None else torch._foreach_add(summed, grads)
                term = term.detach()
            loss = loss + term
        return loss, logs, k, all_keys, summed

    def loss_terms(self, query_view: torch.Tensor, k: torch.Tensor, negatives: torch.Tensor,
                   excluded: torch.Tensor | None = None) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        """The loss's terms, each computed from its own encoder pass when the caller asks for it, with values to
        log. Here InfoNCE of the query view (Eq. 1); subclasses add theirs.

        query_view: stream-converted (N, C, T, V, M); k: the keys (N, D); negatives: the queue (K, D); excluded:
        (N, K) bool, queue keys that are no negatives of each sample (None: all are).
        """
        q = self.project(self.encoder(query_view))
        loss_info = info_nce(q, k, negatives, self.config.method.temperature, excluded=excluded)
        yield loss_info, {"loss_info": loss_info.detach(), **self.pair_similarities(q, k, negatives)}

    @staticmethod
    def pair_similarities(q: torch.Tensor, k: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean cosine similarity of query-key and query-queue pairs (Fig. 4)."""
        with torch.no_grad():
            return {"sim/query_key": (q * k).sum(1).mean().float(), "sim/query_queue": (q.float() @ negatives.T).mean()}

    def setup(self, stage: str) -> None:
        # each rank its own augmentation stream; SkeleMix regions and the BN shuffle use step_generator instead
        if self.world_size > 1:
            L.seed_everything(self.config.train.seed + self.global_rank, workers=True, verbose=False)

    def training_step(self, batch, batch_index):
        x, _, samples = batch  # sequences, labels (unused), dataset indices
        loss, logs, keys, queue_keys, gradients = self.contrastive_losses(x, samples, gradients=True)
        if not torch.isfinite(loss):
            if self.config.train.non_finite == "skip":
                self.skipped_steps += 1
                self.log("train/skipped_steps", float(self.skipped_steps), on_step=True, on_epoch=False)
                return None  # Lightning skips backward and the optimizer step
            checkpoint = self.trainer.checkpoint_callback.best_model_path or "none yet (no epoch had finished)"
            raise FloatingPointError(
                f"non-finite loss ({loss.item()}) at step {self.global_step} (epoch {self.current_epoch}); last "
                f"good checkpoint: {checkpoint}; lower train.lr, set train.precision=32 or train.non_finite=skip, "
                f"then continue with `skelemix pretrain --resume RUN_DIR`")
        self.queue.enqueue(queue_keys, samples if self.world_size == 1 else self.all_gather(samples).flatten(0, 1))
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(x), sync_dist=True)
        self.log_dict({f"train/{k}": v for k, v in logs.items()}, on_step=False, on_epoch=True, batch_size=len(x),
                      sync_dist=True)
        # Lightning's backward of this stand-in puts the computed gradient into .grad, through DDP's all-reduce
        return {"loss": gradient_stand_in(self.trainable_parameters(), gradients), "keys": keys,
                "queue_keys": queue_keys}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["skelemix"] = {"format_version": FORMAT_VERSION, "rng": rng_states()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        restore_rng_states(checkpoint["skelemix"]["rng"])
        self.setup("fit")  # the saved states are rank 0's; other ranks derive their own again

    def configure_optimizers(self):
        train = self.config.train
        optimizer = torch.optim.SGD(self.trainable_parameters(), lr=train.lr, momentum=train.momentum,
                                    weight_decay=train.weight_decay)
        if train.warmup_epochs:
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: lr_factor(
                epoch, train.warmup_epochs, train.lr_milestones, train.lr_gamma))
        else:  # runs written before warm-up existed resume with this scheduler's state
            scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, train.lr_milestones, train.lr_gamma)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}
