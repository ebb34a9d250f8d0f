"""`jaxser bench` on the tiny setup: the report's shape and that its timings are sane."""

from __future__ import annotations

import jax
import pytest

from jaxser import bench
from tests.conftest import make_config


@pytest.mark.usefixtures("tiny_model")
def test_bench_reports_compile_step_and_pipeline_rates(tfds_dir, tiny_corpus):
    report = bench.run(make_config(tfds_dir), steps=3, warmup=1)
    assert report["global_batch_size"] == 8 and report["devices"] >= 1
    for part in ("synthetic", "end_to_end"):
        rates = report[part]
        assert rates["examples_per_s"] == pytest.approx(8 * rates["steps_per_s"])
        # Timings include the device finishing the work: a 2 s-clip step on a CPU
        # cannot run thousands of times a second (dispatch-only timing did).
        assert 0 < rates["steps_per_s"] < 2000
    assert report["pipeline_only"]["batches_per_s"] > 0
    assert report["compile_s"] > 0 and report["peak_host_rss_mib"] > 0
    assert report["machine"]["backend"] == jax.default_backend()


def test_bench_refuses_kinds_without_a_device_step_and_says_where_to_look():
    from jaxser import bench
    from jaxser import config as config_lib

    with pytest.raises(config_lib.ConfigError, match="tools/bench_adan.py"):
        bench.run(config_lib.load("configs/yi2020_emodb.py:smoke"))
    with pytest.raises(config_lib.ConfigError, match="kind 'sklearn' has none"):
        bench.run(config_lib.load("configs/classic_svm_is11_emodb.py:smoke"))
