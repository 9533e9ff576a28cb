"""Checks of the chapter 7 helpers for mixed precision, checkpointing and data parallelism."""

from __future__ import annotations

import pytest
import torch

from llm_anatomy.autograd.scaling import (
    autocast_error,
    checkpoint_gradients,
    ddp_gradients_match,
    find_free_port,
    make_batch,
    make_tiny_model,
    shard_gradients,
)


def test_mean_of_equal_shard_gradients_is_the_full_batch_gradient() -> None:
    # The identity data parallelism relies on, checked without any processes.
    model = make_tiny_model()
    x, y = make_batch(n=16)
    full = shard_gradients(model, x, y)
    halves = [shard_gradients(model, x[i : i + 8], y[i : i + 8]) for i in (0, 8)]
    for f, a, b in zip(full, *halves, strict=True):
        torch.testing.assert_close((a + b) / 2, f, rtol=0, atol=1e-6)


@pytest.mark.parametrize("use_ddp", [False, True])
def test_ddp_on_two_cpu_processes_matches_full_batch(use_ddp: bool) -> None:
    assert ddp_gradients_match(world_size=2, use_ddp=use_ddp) < 1e-6


def test_ddp_with_three_processes() -> None:
    assert ddp_gradients_match(world_size=3) < 1e-6


def test_find_free_port_can_be_bound() -> None:
    import socket

    port = find_free_port()
    assert 0 < port < 65536
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))


def test_checkpointed_gradients_equal_normal_ones_and_recompute_forward(device: torch.device) -> None:
    plain, plain_calls = checkpoint_gradients(use_checkpoint=False, n_blocks=5, device=device)
    ckpt, ckpt_calls = checkpoint_gradients(use_checkpoint=True, n_blocks=5, device=device)
    assert plain_calls == 5  # one forward per block
    assert ckpt_calls == 10  # and one more per block during backward
    assert len(plain) == len(ckpt) == 10  # weight and bias of 5 blocks
    for a, b in zip(plain, ckpt, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_bf16_autocast_is_close_to_fp32(device: torch.device) -> None:
    dtype, rel = autocast_error(torch.bfloat16, device=device)
    assert dtype == torch.bfloat16
    # bfloat16 keeps 8 significant bits: relative errors of a few 1e-3 are expected.
    assert 0 < rel < 2e-2


def test_fp16_has_more_mantissa_than_bf16() -> None:
    dtype16, rel16 = autocast_error(torch.float16, device=torch.device("cpu"))
    if dtype16 != torch.float16:
        pytest.skip("this torch build has no float16 autocast on the CPU")
    _, rel_bf16 = autocast_error(torch.bfloat16, device=torch.device("cpu"))
    assert rel16 < rel_bf16 < 2e-2
