"""Running one batch as several processes (GPUs, or CPU processes), with accelerate.

``bgart batch`` is the same command whether it runs alone or under a launcher::

    accelerate launch --multi_gpu --num_processes 4 -m bgart.cli batch shots.csv
    torchrun --nproc_per_node 4 -m bgart.cli batch shots.csv

A launcher sets ``WORLD_SIZE``/``RANK``; then :func:`setup` builds accelerate's
``PartialState`` (NCCL on CUDA, one GPU per process; gloo on the CPU) and the batch splits its
shots with ``split_between_processes``. Without a launcher nothing distributed is set up at
all. Facts this relies on (checked with accelerate 1.15, see DESIGN.md): ``accelerate launch
--cpu --num_processes N`` starts ONE process; ``--multi_gpu`` (or torchrun) starts N, and on
a machine without CUDA ``PartialState(cpu=True)`` makes them a gloo group.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

T = TypeVar("T")

# A rank whose shots are all done waits at the final barrier for the others; an overnight
# batch must not time out there (torch's default is 30 minutes).
BARRIER_TIMEOUT = timedelta(days=7)


def launched_world_size() -> int:
    """How many processes a launcher (accelerate, torchrun, MPI) started; 1 without one."""
    for key in ("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        value = os.environ.get(key)
        if value and value.isdigit():
            return max(1, int(value))
    return 1


def worker_threads() -> int | None:
    """CPU threads for each process's torch: 1 under a launcher (N processes share the
    cores), unless ``BGART_CPU_THREADS`` says otherwise; None (torch's default) when alone."""
    if os.environ.get("BGART_CPU_THREADS"):
        return None  # Settings reads it
    return 1 if launched_world_size() > 1 else None


@dataclass
class Dist:
    """This process's place in the batch: rank ``rank`` of ``world``."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None
    state: Any = field(default=None, repr=False)  # accelerate.PartialState, when launched

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def split(self, items: list[T]) -> list[T]:
        """This rank's share of ``items``: contiguous, in order, no item on two ranks."""
        if self.state is None:
            return list(items)
        with self.state.split_between_processes(list(items)) as part:
            return list(part)

    def wait(self) -> None:
        """Barrier: return when every rank got here."""
        if self.state is not None:
            self.state.wait_for_everyone()

    def from_main(self, value: T) -> T:
        """The main process's ``value``, on every rank (a collective call: every rank must
        make it; each passes its own value, only the main one's counts)."""
        if self.state is None:
            return value
        import torch.distributed as tdist

        box = [value]
        tdist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        if self.state is not None:
            self.state.destroy_process_group()
            self.state = None

    def tag(self) -> str:
        """A log prefix naming the rank, empty when alone."""
        return f"[rank {self.rank}/{self.world}] " if self.distributed else ""


def setup(cpu: bool = False) -> Dist:
    """Join the process group a launcher set up (no-op without a launcher).

    ``cpu`` forces gloo on the CPU even where CUDA exists; without CUDA it is implied.
    """
    if launched_world_size() <= 1:
        return Dist()
    import torch
    from accelerate import PartialState

    use_cpu = cpu or not torch.cuda.is_available()
    state = PartialState(cpu=use_cpu, timeout=BARRIER_TIMEOUT)
    return Dist(
        rank=state.process_index,
        world=state.num_processes,
        local_rank=state.local_process_index,
        backend=state.backend,
        state=state,
    )
