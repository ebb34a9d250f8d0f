"""host_memory: the jaxser command re-executes itself with glibc's hugetlb tunable,
and that makes an XLA:CPU step fault its temporaries in with far fewer faults."""

import os
import subprocess
import sys
import textwrap

import pytest

from jaxser import host_memory

APPLIES = host_memory.hugepage_environ({}) is not None

# Re-exec as the command does, then a jitted function with ~200 MB of temporaries per
# call: prints GLIBC_TUNABLES and the minor faults of its third call.
SCRIPT = textwrap.dedent("""
    import os, resource
    from jaxser import host_memory
    host_memory.reexec_with_hugepages()
    import jax, jax.numpy as jnp
    f = jax.jit(lambda x: jnp.sum(jnp.sin(x)[::-1] * jnp.cos(x)))
    x = jnp.ones((25_000_000,))
    for _ in range(2):
        f(x).block_until_ready()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    f(x).block_until_ready()
    print(os.environ.get("GLIBC_TUNABLES", "-"), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _run(**env) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", host_memory.ENV)} | env
    out = subprocess.run([sys.executable, "-c", SCRIPT], env={**env, "JAX_PLATFORMS": "cpu"},
                         capture_output=True, text=True, check=True)
    tunables, faults = out.stdout.split()
    return tunables, int(faults)


@pytest.mark.skipif(not APPLIES, reason="needs Linux, glibc >= 2.35 and transparent huge pages")
def test_reexec_sets_tunable_and_cuts_page_faults():
    tunables, faults = _run()
    off_tunables, off_faults = _run(JAXSER_HOST_MEMORY="system")
    assert tunables == host_memory.TUNABLE and off_tunables == "-"
    assert off_faults > 25_000, f"4 KB faults expected without the tunable, got {off_faults}"
    assert faults < off_faults / 10, (faults, off_faults)


def test_environ_rules(monkeypatch):
    assert host_memory.hugepage_environ({"JAXSER_HOST_MEMORY": "system"}) is None
    assert host_memory.hugepage_environ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}) is None  # the user's choice
    if APPLIES:
        env = host_memory.hugepage_environ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "A": "b"})
        assert env == {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:" + host_memory.TUNABLE, "A": "b"}
    with pytest.raises(ValueError, match="JAXSER_HOST_MEMORY"):
        host_memory.hugepage_environ({"JAXSER_HOST_MEMORY": "sometimes"})


def test_thp_setting_parsed(tmp_path):
    p = tmp_path / "enabled"
    p.write_text("always madvise [never]\n")
    assert not host_memory._thp_enabled(str(p))
    p.write_text("always [madvise] never\n")
    assert host_memory._thp_enabled(str(p))
    assert not host_memory._thp_enabled(str(tmp_path / "missing"))
