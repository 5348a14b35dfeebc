"""Learning-rate schedules by epoch: linear warm-up, then step decay at milestones; a schedule fitted to a budget of
optimizer steps.

Used by pretraining (``train.warmup_epochs``, ``train.lr_milestones``, ``train.steps``) and finetuning
(``eval.finetune.*``).

Example:
    >>> [lr_factor(epoch, warmup=2, milestones=[4]) for epoch in range(6)]
    [0.5, 1.0, 1.0, 1.0, 0.1, 0.1]
    >>> epochs_for_steps(steps=1000, steps_per_epoch=60, epochs=50, warmup=5, milestones=[40])
    (17, 2, [14])
"""

from __future__ import annotations


def lr_factor(epoch: int, warmup: int, milestones: list[int], gamma: float = 0.1) -> float:
    """The learning rate of ``epoch`` (0-based) relative to the base: (epoch + 1) / warmup while warming up,
    then gamma to the number of milestones reached."""
    if epoch < warmup:
        return (epoch + 1) / warmup
    return gamma ** sum(epoch >= m for m in milestones)


def epochs_for_steps(steps: int, steps_per_epoch: int, epochs: int, warmup: int, milestones: list[int]
                     ) -> tuple[int, int, list[int]]:
    """A schedule of ``epochs`` (with ``warmup`` epochs and ``milestones``) stretched or shrunk to about ``steps``
    optimizer steps: (epochs, warm-up epochs, milestones), whole epochs, each part in the same proportion (a warm-up
    keeps at least one epoch; a milestone that falls outside the shorter schedule is dropped)."""
    if steps < 1 or steps_per_epoch < 1:
        raise ValueError(f"steps and steps per epoch must be >= 1, got {steps} and {steps_per_epoch}")
    fitted = max(1, round(steps / steps_per_epoch))
    scale = fitted / epochs
    fitted_warmup = max(1, round(warmup * scale)) if warmup else 0
    fitted_milestones = sorted({round(m * scale) for m in milestones if 0 < round(m * scale) < fitted})
    return fitted, fitted_warmup, fitted_milestones
