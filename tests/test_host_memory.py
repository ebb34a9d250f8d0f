"""host_memory: the jaxser command re-executes itself with glibc's hugetlb tunable,
and that makes an XLA:CPU step fault its temporaries in with far fewer faults."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

from jaxser import host_memory


def _hugepages_apply() -> tuple[bool, str]:
    """The tunable's precondition, worked out without the code under test: Linux,
    glibc >= 2.35, and transparent huge pages readable and not set to [never]."""
    if not sys.platform.startswith("linux"):
        return False, f"not Linux ({sys.platform})"
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        libc = ""
    m = re.fullmatch(r"glibc (\d+)\.(\d+).*", libc)
    if m is None:
        return False, f"not glibc ({libc!r})"
    if (int(m[1]), int(m[2])) < (2, 35):
        return False, f"{libc} < 2.35"
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            thp = f.read()
    except OSError as e:
        return False, f"transparent huge pages unreadable: {e}"
    if "[never]" in thp:
        return False, f"transparent huge pages disabled: {thp.strip()}"
    return True, f"{libc}, THP {thp.strip()}"


APPLIES, WHY = _hugepages_apply()
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _require_applies():
    """Skip where the tunable cannot apply; in CI fail instead, so a CI machine that
    lacks it (or a broken precondition check) cannot pass by skipping."""
    if not APPLIES:
        msg = f"needs Linux, glibc >= 2.35 and transparent huge pages: {WHY}"
        if CI:
            pytest.fail(msg)
        pytest.skip(msg)


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


def test_reexec_sets_tunable_and_cuts_page_faults():
    _require_applies()
    tunables, faults = _run()
    off_tunables, off_faults = _run(JAXSER_HOST_MEMORY="system")
    assert tunables == host_memory.TUNABLE and off_tunables == "-"
    assert off_faults > 25_000, f"4 KB faults expected without the tunable, got {off_faults}"
    assert faults < off_faults / 10, (faults, off_faults)


def test_environ_rules(monkeypatch):
    assert host_memory.hugepage_environ({"JAXSER_HOST_MEMORY": "system"}) is None
    assert host_memory.hugepage_environ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}) is None  # the user's choice
    env = host_memory.hugepage_environ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "A": "b"})
    if APPLIES:
        assert env == {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:" + host_memory.TUNABLE, "A": "b"}
        assert host_memory.hugepage_environ({}) == {"GLIBC_TUNABLES": host_memory.TUNABLE}
    else:
        assert env is None, WHY
    with pytest.raises(ValueError, match="JAXSER_HOST_MEMORY"):
        host_memory.hugepage_environ({"JAXSER_HOST_MEMORY": "sometimes"})


def test_thp_setting_parsed(tmp_path):
    p = tmp_path / "enabled"
    p.write_text("always madvise [never]\n")
    assert not host_memory._thp_enabled(str(p))
    p.write_text("always [madvise] never\n")
    assert host_memory._thp_enabled(str(p))
    assert not host_memory._thp_enabled(str(tmp_path / "missing"))
