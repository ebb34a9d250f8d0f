"""jaxser.linear_svm: the LinearSVC objective solved on the device gives LinearSVC's solution."""

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from jaxser import linear_svm


@pytest.mark.parametrize("class_weight", [None, "balanced"])
@pytest.mark.parametrize("shape", [(60, 20), (30, 80)])  # more rows than features, and fewer
def test_matches_linearsvc(class_weight, shape):
    rng = np.random.default_rng(0)
    n, d = shape
    y = np.concatenate([np.arange(4), rng.integers(0, 4, n - 4)])
    y[y == 3] = rng.choice([0, 3], size=(y == 3).sum())  # unbalanced classes
    X = (rng.standard_normal((n, d)) + 0.5 * y[:, None]).astype(np.float32)
    ref = LinearSVC(C=0.1, class_weight=class_weight, tol=1e-8, max_iter=100000, dual=n < d).fit(X, y)
    coef, intercept, _ = linear_svm.fit(X, y, num_classes=4, C=0.1, class_weight=class_weight, tol=1e-6)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(coef, ref.coef_, atol=2e-3 * scale)
    np.testing.assert_allclose(intercept, ref.intercept_, atol=2e-3 * scale)
    np.testing.assert_array_equal(np.argmax(X @ coef.T + intercept, 1), ref.predict(X))


def test_balanced_weights_are_sklearns():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0, 0, 0, 1, 2, 2])
    np.testing.assert_allclose(linear_svm.balanced_weights(y, 3), compute_class_weight("balanced", classes=np.arange(3), y=y))
    assert linear_svm.balanced_weights(y, 4)[3] == 0.0
