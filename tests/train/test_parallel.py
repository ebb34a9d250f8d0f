"""Data parallelism: one step on 4 forced host devices equals the step on 1 device.

The check runs in a subprocess (tests/train/parallel_check.py) because the device
count is fixed when JAX starts. Plain SGD (lr 0.1) makes the parameter change
proportional to the gradient; tolerances allow float32 summation-order differences
between one device's sum of 8 rows and four partial sums combined by psum.
"""

from __future__ import annotations

import pathlib

import pytest

from jaxser.train import parallel
from tests.device_check import run_on_host_devices

CHECK = pathlib.Path(__file__).with_name("parallel_check.py")


@pytest.mark.parametrize("mode", ["shard_map", "pmap"])
def test_four_devices_match_one_device(mode):
    result = run_on_host_devices(CHECK, 4, mode, timeout=300)
    assert result["devices"] == 4
    assert result["params_max_abs_diff"] <= 1e-6, result
    assert result["batch_stats_max_abs_diff"] <= 1e-6, result
    assert result["metrics_max_abs_diff"] <= 1e-4, result  # loss sum of 8 rows, ~10
    assert "does not divide evenly over 4 devices" in result["batch_6_error"]


def test_batch_size_checked_before_compiling():
    assert parallel.check_batch_size(16, 4, process_count=2) == 4
    with pytest.raises(parallel.BatchSizeError, match="multiple of 4"):
        parallel.check_batch_size(10, 4, process_count=1)
    with pytest.raises(parallel.BatchSizeError, match="3 processes"):
        parallel.check_batch_size(8, 1, process_count=3)
    with pytest.raises(ValueError, match="parallel mode"):
        parallel.DataParallel(mode="vmap")
