"""The guard in conftest.py puts back whatever a test changes in the process."""

from __future__ import annotations

import os
import random

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from tests.process_state import restore, snapshot


def test_restore_puts_back_threads_env_cwd_and_every_rng(tmp_path):
    before = snapshot()
    draws = (random.random(), np.random.rand(), torch.rand(1).item())
    restore(before)  # the draws above moved the generators; put them back

    torch.set_num_threads(1 if torch.get_num_threads() != 1 else 2)
    os.environ["HILL_DASH_TEST_LEAK"] = "1"
    os.chdir(tmp_path)
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    if threadpool_info():
        threadpool_limits(limits=1)

    changed = restore(before)
    assert any("torch threads" in c for c in changed)
    assert any("HILL_DASH_TEST_LEAK" in c for c in changed)
    assert any("working directory" in c for c in changed)
    assert torch.get_num_threads() == before.torch_threads
    assert "HILL_DASH_TEST_LEAK" not in os.environ
    assert os.getcwd() == before.cwd
    assert snapshot().pool_limits == before.pool_limits
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == draws


def test_the_autouse_guard_restores_after_a_leaking_test(request):
    """Run the guard fixture's generator by hand around a leak, as pytest does."""
    from tests.conftest import _process_state_restored

    threads = torch.get_num_threads()
    guard = _process_state_restored.__wrapped__()
    next(guard)
    torch.set_num_threads(1 if threads != 1 else 2)
    os.environ["HILL_DASH_TEST_LEAK"] = "1"
    for _ in guard:  # the fixture's teardown
        pass
    assert torch.get_num_threads() == threads
    assert "HILL_DASH_TEST_LEAK" not in os.environ
