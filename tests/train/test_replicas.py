"""replicas.digest: a byte-exact fingerprint of a process's copy of replicated state."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxser.train import replicas


def test_digest_is_exact_and_covers_structure_and_keys():
    tree = {"w": jnp.arange(6.0).reshape(2, 3), "rng": jax.random.key(0), "step": jnp.int32(3)}
    same = {"w": np.arange(6.0, dtype=np.float32).reshape(2, 3), "rng": jax.random.key(0), "step": np.int32(3)}
    assert replicas.digest(tree) == replicas.digest(same) == replicas.check_identical(tree)
    nudged = dict(tree, w=tree["w"].at[1, 2].set(np.nextafter(np.float32(5.0), np.float32(6.0))))
    assert replicas.digest(nudged) != replicas.digest(tree)  # one ulp
    assert replicas.digest(dict(tree, rng=jax.random.key(1))) != replicas.digest(tree)
    assert replicas.digest(dict(tree, w=tree["w"].reshape(3, 2))) != replicas.digest(tree)
    assert replicas.digest({"v": tree["w"], "rng": tree["rng"], "step": tree["step"]}) != replicas.digest(tree)
