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
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.strategies import ParallelStrategy

from ..augmentations import ViewAugmentation
from ..checkpoints import FORMAT_VERSION, restore_rng_states, rng_states
from ..config import Config, config_from_dict
from ..data.streams import to_stream
from ..layouts import SkeletonLayout, get_layout
from ..schedule import lr_factor
from ..models import STGCN, ProjectionHead
from ..models.stgcn import reference_init_
from .moco import MemoryQueue, info_nce, momentum_update


@dataclass
class StepResult:
    """What one contrastive step computed: ``loss`` (detached when its terms were differentiated as they came),
    ``logs`` (values to log), this rank's ``keys`` (N, D) and every rank's ``queue_keys`` (W N, D), in rank order."""

    loss: torch.Tensor
    logs: dict[str, torch.Tensor]
    keys: torch.Tensor
    queue_keys: torch.Tensor

    @property
    def finite(self) -> bool:
        return bool(torch.isfinite(self.loss))


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
        # several backward passes per step (one per loss term), so the loop is ours: Lightning's manual optimisation
        self.automatic_optimization = False

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

    @property
    def loss_term_count(self) -> int:
        """How many terms ``loss_terms`` yields (one encoder pass each)."""
        return 1

    def contrastive_step(self, x: torch.Tensor, samples: torch.Tensor | None = None,
                         backward: Callable[[torch.Tensor, bool], None] | None = None) -> StepResult:
        """The loss of a batch x (N, C, T, V, M) with dataset indices ``samples`` (N,), the values to log and the keys.

        With ``backward``, each term (``loss_terms``: one encoder pass each) is handed to ``backward(term, last)`` as
        soon as it is computed, which frees that pass's activations before the next pass starts: the gradient of the
        sum, with one pass's activations alive at a time instead of all of them (SkeleMixCLR+ has four); the loss
        then comes back detached. Without, the loss keeps its graph. With ``method.exclude_own_keys`` (and
        ``samples``) the keys an earlier step queued for the same sample are no negatives of it; with
        ``method.queue_start=empty`` neither are the queue's random start vectors, until encoded keys replace them.
        """
        query_view = to_stream(self.augment(x), self.stream, self.layout)
        key_view = to_stream(self.augment(x), self.stream, self.layout)
        k, all_keys = self.keys(key_view)
        # a snapshot: the queue is updated in place before backward, and the logits' gradient needs it
        negatives = self.queue.keys.clone()
        method = self.config.method
        excluded = self.queue.not_negatives(len(x), samples if method.exclude_own_keys else None,
                                            random_start=method.queue_start == "empty")
        loss, logs = torch.zeros((), device=x.device), {}
        terms = self.loss_terms(query_view, k, negatives, excluded)
        for index, (term, term_logs) in enumerate(terms):
            logs.update(term_logs)  # a later term's values replace an earlier one's
            if backward is not None:
                backward(term, index == self.loss_term_count - 1)
                term = term.detach()
            loss = loss + term
        return StepResult(loss, logs, k, all_keys)

    def optimization_step(self, x: torch.Tensor, samples: torch.Tensor | None, optimizer,
                          backward: Callable[[torch.Tensor, bool], None]) -> StepResult:
        """One training step: the gradients of the batch's loss (``contrastive_step`` with ``backward``), then, if
        the loss is finite, the SGD step, the batch's keys into the queue and the key side's momentum step (after
        the SGD step, so the next step's keys come from the updated key side: MoCo's order of weights)."""
        optimizer.zero_grad(set_to_none=True)
        result = self.contrastive_step(x, samples, backward)
        if result.finite:
            optimizer.step()
            owners = samples if samples is None or self.world_size == 1 else self.all_gather(samples).flatten(0, 1)
            self.queue.enqueue(result.queue_keys, owners)
            self.update_key_side()
        return result

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

    def _backward(self, term: torch.Tensor, last: bool) -> None:
        """Lightning's backward of one loss term; under DDP the gradients are all-reduced once, with the last term's."""
        strategy = self.trainer.strategy
        with strategy.block_backward_sync() if isinstance(strategy, ParallelStrategy) and not last else nullcontext():
            self.manual_backward(term)

    def training_step(self, batch, batch_index):
        x, _, samples = batch  # sequences, labels (unused), dataset indices
        result = self.optimization_step(x, samples, self.optimizers(), self._backward)
        if self.trainer.is_last_batch:  # the epoch's schedule step, before the epoch's checkpoint is written
            self.lr_schedulers().step()
        if not result.finite:
            if self.config.train.non_finite != "skip":
                checkpoint = self.trainer.checkpoint_callback.best_model_path or "none yet (no epoch had finished)"
                raise FloatingPointError(
                    f"non-finite loss ({result.loss.item()}) at step {self.global_step} (epoch {self.current_epoch});"
                    f" last good checkpoint: {checkpoint}; lower train.lr, set train.precision=32 or "
                    f"train.non_finite=skip, then continue with `skelemix pretrain --resume RUN_DIR`")
            self.skipped_steps += 1
            self.log("train/skipped_steps", float(self.skipped_steps), on_step=True, on_epoch=False)
            return
        self.log("train/loss", result.loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(x),
                 sync_dist=True)
        self.log_dict({f"train/{k}": v for k, v in result.logs.items()}, on_step=False, on_epoch=True,
                      batch_size=len(x), sync_dist=True)
        return {"loss": result.loss, "keys": result.keys, "queue_keys": result.queue_keys}  # for callbacks

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
