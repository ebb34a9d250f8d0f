"""The machine description recorded by benchmarks and training runs."""

from __future__ import annotations

import json
import pathlib

import jax

from jaxser import machine


def test_describe_names_the_cpu_generation_and_the_software():
    info = machine.describe()
    json.dumps(info)  # goes into JSON files as it is
    assert info["backend"] == jax.default_backend() and info["jax"] and info["usable_cores"] >= 1
    if pathlib.Path("/proc/cpuinfo").is_file():  # Linux: family/model/stepping are numbers
        assert all(part.isdigit() for part in info["cpu_family_model_stepping"].split("/"))
    assert set(info["cpu_vector_extensions"]) <= set(machine._VECTOR_FLAGS)


def test_cpu_reads_the_first_processor_block(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC\ncpu family\t: 25\nmodel\t\t: 17\nstepping\t: 1\n"
        "flags\t\t: fpu sse avx2 fma avx512f avx512_bf16 sha_ni\n\n"
        "processor\t: 1\nmodel name\t: Other\ncpu family\t: 6\n"
    )
    assert machine.cpu(str(cpuinfo)) == {
        "cpu": "AMD EPYC",
        "cpu_family_model_stepping": "25/17/1",
        "cpu_vector_extensions": ["avx2", "fma", "avx512f", "avx512_bf16"],
    }
