"""One torch thread for the tiny-model test packages (tests/lm, tests/train make it an autouse fixture)."""

from __future__ import annotations


def single_torch_thread():
    """The tiny model's matrices are too small to share across threads; on a busy machine two threads
    spend most of their time waiting on each other (5x slower measured with load average 6).
    Packages of tiny-model tests make it an autouse fixture of their own."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
