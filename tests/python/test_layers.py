"""Each layer kind through predict (evaluation mode), against the formula
of its header documentation computed here in float64."""
import numpy as np
import pytest

import bsnn


def test_layernorm_normalises_each_row(rng):
    ln = bsnn.LayerNorm(eps=1e-3)
    x = rng.normal(2.0, 3.0, size=(6, 5))
    m = bsnn.Model(5, [ln])
    mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    assert np.allclose(m.predict(x), (x - mean) / np.sqrt(var + 1e-3), atol=1e-5)
    one = m.predict(x[2:3])  # one row gives that row's output: batch independent
    assert np.allclose(one, m.predict(x)[2:3], atol=0)


def test_standardize_is_saved_with_the_model(rng):
    x = rng.normal([5.0, -1.0, 0.0], [2.0, 0.5, 10.0], size=(50, 3)).astype(np.float32)
    mean, std = bsnn.Dataset(x, np.zeros(50)).input_stats()
    st = bsnn.Standardize(mean, std)
    m = bsnn.Model(3, [st, bsnn.Dense(2)], loss="mse")
    back = bsnn.Model.from_bytes(m.to_bytes())
    # The dense layer sees (x - mean) / std: check against numpy.
    p = m.get_params().astype(np.float64)
    w, b = p[:6].reshape(3, 2), p[6:]
    want = ((x - mean) / std).astype(np.float64) @ w + b
    assert np.allclose(back.predict(x), want, atol=1e-4)
    with pytest.raises(bsnn.ShapeError):
        bsnn.Model(4, [bsnn.Standardize(mean, std)])


def test_dropout_and_batchnorm_are_evaluation_mode_in_predict(rng):
    x = rng.normal(size=(8, 4))
    drop = bsnn.Model(4, [bsnn.Dropout(0.5)])
    assert np.allclose(drop.predict(x), x, atol=1e-6)  # identity outside training
    bn = bsnn.Model(4, [bsnn.BatchNorm(eps=1e-5)])
    # Running averages start at mean 0, variance 1; gamma 1, beta 0.
    assert np.allclose(bn.predict(x), x / np.sqrt(1 + 1e-5), atol=1e-6)


@pytest.mark.parametrize("name, fn", [
    ("linear", lambda z: z),
    ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
    ("tanh", np.tanh),
    ("relu", lambda z: np.maximum(z, 0)),
    ("leaky_relu", lambda z: np.where(z > 0, z, 0.01 * z)),
    ("elu", lambda z: np.where(z > 0, z, np.expm1(z))),
    ("softmax", lambda z: np.exp(z) / np.exp(z).sum(1, keepdims=True)),
])
def test_activations(rng, name, fn):
    x = rng.normal(size=(5, 3)) * 2
    m = bsnn.Model(3, [bsnn.Activation(name)])
    assert np.allclose(m.predict(x), fn(x), atol=1e-5)
