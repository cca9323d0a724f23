"""Data parallelism under torchrun for the training loop (pipeline.training): which share of each
batch this process trains on, the model's DistributedDataParallel wrapper, sums over the ranks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Sharding:
    """Data parallelism under torchrun: DistributedDataParallel wraps the model, and each rank trains
    on its share (rank::world) of every batch, its loss weighted by that share so that DDP's
    gradient average equals the single-process gradient of the whole batch. Every rank draws the
    same batch order from the same seed. In one process, the model and batches as they are."""

    rank: int = 0
    world: int = 1

    @classmethod
    def current(cls) -> Sharding:
        """This process's place inside a `torchrun` process group; one process outside one."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def share(self, batch: tuple) -> tuple[tuple, float] | None:
        """(this rank's part of the batch, its weight); None for a batch too small to give every
        rank a share, which every rank skips."""
        if self.world == 1:
            return batch, 1.0
        if len(batch[0]) < self.world:
            return None
        part = tuple(t[self.rank :: self.world] for t in batch)
        return part, self.world * len(part[0]) / len(batch[0])

    def sum(self, *values: float) -> tuple[float, ...]:
        """Each value summed over every rank."""
        if self.world == 1:
            return values
        totals = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(totals)
        return tuple(totals.tolist())
