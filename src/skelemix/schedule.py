"""Learning-rate schedules by epoch: linear warm-up, then step decay at milestones.

Used by pretraining (``train.warmup_epochs``, ``train.lr_milestones``) and finetuning (``eval.finetune.*``).

Example:
    >>> [lr_factor(epoch, warmup=2, milestones=[4]) for epoch in range(6)]
    [0.5, 1.0, 1.0, 1.0, 0.1, 0.1]
"""

from __future__ import annotations


def lr_factor(epoch: int, warmup: int, milestones: list[int], gamma: float = 0.1) -> float:
    """The learning rate of ``epoch`` (0-based) relative to the base: (epoch + 1) / warmup while warming up,
    then gamma to the number of milestones reached."""
    if epoch < warmup:
        return (epoch + 1) / warmup
    return gamma ** sum(epoch >= m for m in milestones)
