"""numpy in, numpy out, never a silent misreading: the three pitfalls of
raw ctypes (float64 read as float32 bytes, a strided slice read as if
contiguous, a wrapped temporary freed under C) are each read right, and
zero-copy happens exactly when the array allows it. Outputs are checked
against a forward pass computed here in float64 from the parameters."""
import ctypes
import gc

import numpy as np
import pytest

import bsnn
from bsnn import _lib


def c_values(t):
    """What C reads through a tensor (bsnn_tensor_copy_out)."""
    n = _lib.lib.bsnn_tensor_size(t._p())
    out = np.empty(n, np.float32)
    _lib.check(_lib.lib.bsnn_tensor_copy_out(out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                              n, t._p()))
    return out


def reference_forward(model, x):
    """Dense(3) -> tanh -> Dense(2) in float64 from the flat parameters."""
    p = model.get_params().astype(np.float64)
    n_in = model.n_inputs
    w1 = p[:n_in * 3].reshape(n_in, 3)
    b1 = p[n_in * 3:n_in * 3 + 3]
    rest = p[n_in * 3 + 3:]
    w2, b2 = rest[:6].reshape(3, 2), rest[6:8]
    return np.tanh(np.asarray(x, np.float64) @ w1 + b1) @ w2 + b2


@pytest.fixture
def model():
    return bsnn.Model(4, [bsnn.Dense(3), bsnn.Activation("tanh"), bsnn.Dense(2)], loss="mse",
                      seed=3)


def test_float64_is_converted_not_reinterpreted():
    # Raw ctypes handed these float64 bytes over as float32: [0, 1.875, 0, 2].
    t = bsnn.Tensor(np.array([1.0, 2.0, 3.0, 4.0]))
    assert c_values(t).tolist() == [1.0, 2.0, 3.0, 4.0]
    assert t.numpy().dtype == np.float32


def test_integers_lists_and_big_endian_are_converted():
    assert c_values(bsnn.Tensor([[1, 2], [3, 4]])).tolist() == [1, 2, 3, 4]
    be = np.array([0.5, -2.0], dtype=">f4")
    assert c_values(bsnn.Tensor(be)).tolist() == [0.5, -2.0]


@pytest.mark.parametrize("make", [
    lambda a: a[:, ::2],      # strided columns
    lambda a: a[::2],         # every other row
    lambda a: a.T.copy().T,   # Fortran order
    lambda a: a[1:, 1:],      # an offset block
])
def test_non_contiguous_views_are_gathered(make):
    base = np.arange(48, dtype=np.float32).reshape(6, 8)
    view = make(base)
    assert not view.flags.c_contiguous
    assert c_values(bsnn.Tensor(view)).tolist() == view.ravel().tolist()


def test_predict_reads_a_strided_slice_right(model, rng):
    wide = rng.normal(size=(10, 8)).astype(np.float32)
    x = wide[:, ::2]  # 4 columns, stride 2: rows would be shifted if read raw
    got = model.predict(x)
    assert np.allclose(got, reference_forward(model, x), atol=1e-5)
    assert np.array_equal(got, model.predict(np.ascontiguousarray(x)))


def test_predict_of_float64_matches_the_float64_reference(model, rng):
    x = rng.normal(size=(7, 4))
    assert np.allclose(model.predict(x), reference_forward(model, x), atol=1e-5)


def test_a_wrapped_temporary_stays_alive():
    # The only reference to the array is the tensor's.
    t = bsnn.Tensor(np.arange(1000, dtype=np.float32) * 2.0)
    gc.collect()
    churn = [np.full(1000, -7.0, np.float32) for _ in range(200)]  # reuse freed memory
    assert c_values(t).tolist() == [2.0 * i for i in range(1000)]
    del churn


def test_zero_copy_when_the_array_allows_it():
    a = np.zeros((2, 3), np.float32)
    t = bsnn.Tensor(a)
    assert t.numpy() is a
    _lib.check(_lib.lib.bsnn_tensor_fill(t._p(), 5.0))  # C writes into a itself
    assert (a == 5.0).all()
    assert t.shape == (2, 3)


def test_copy_false_refuses_each_pitfall():
    with pytest.raises(ValueError, match="float64.*copy=False"):
        bsnn.Tensor(np.ones(3), copy=False)
    with pytest.raises(ValueError, match="not C-contiguous"):
        bsnn.Tensor(np.ones((4, 4), np.float32)[:, ::2], copy=False)
    with pytest.raises(ValueError, match="copy=False"):
        bsnn.Tensor([1.0, 2.0], copy=False)
    raw = np.zeros(17, np.uint8)[1:].view(np.float32)  # misaligned float32
    if not raw.flags.aligned:
        with pytest.raises(ValueError, match="aligned"):
            bsnn.Tensor(raw, copy=False)
    assert bsnn.Tensor(raw).numpy().flags.aligned


def test_copy_true_always_copies():
    a = np.zeros(3, np.float32)
    assert bsnn.Tensor(a, copy=True).numpy() is not a


def test_predict_copy_false_refuses_float64(model):
    with pytest.raises(ValueError, match="copy=False"):
        model.predict(np.ones((2, 4)), copy=False)
    model.predict(np.ones((2, 4), np.float32), copy=False)


def test_rank_and_shape_rules(model):
    with pytest.raises(ValueError, match="rank"):
        bsnn.Tensor(np.ones((1, 1, 1, 1, 1), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        model.predict(np.ones(4))
    x3 = np.arange(24, dtype=np.float32).reshape(6, 2, 2)  # flattened after dim 0
    assert np.array_equal(model.predict(x3), model.predict(x3.reshape(6, 4)))


def test_non_numbers_are_refused():
    with pytest.raises(TypeError):
        bsnn.Tensor(np.array(["a", "b"]))
    with pytest.raises(TypeError):
        bsnn.Tensor(np.array([1 + 2j]))


def test_predict_batches_do_not_change_the_result(model, rng):
    x = rng.normal(size=(37, 4)).astype(np.float32)
    assert np.array_equal(model.predict(x, batch_size=5), model.predict(x, batch_size=1000))


def test_results_are_numpy_arrays_the_caller_owns(model, rng):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    out = model.predict(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (3, 2)
    out[:] = 0  # writing to it touches nothing of bsnn's
    assert not np.array_equal(model.predict(x), out)
    ds = bsnn.Dataset(x, np.zeros(3))
    xs = ds.x
    xs[:] = 9
    assert np.array_equal(ds.x, x)  # a copy, not a view into C memory


def test_a_borrowed_dataset_reads_the_array_in_place_and_keeps_temporaries_alive():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6, dtype=np.float32)
    ds = bsnn.Dataset(x, y, borrow=True)
    p = _lib.lib.bsnn_dataset_inputs(ds._p())
    assert ctypes.cast(p, ctypes.c_void_p).value == x.ctypes.data, "no copy of a float32 array"
    copied = bsnn.Dataset(x, y)
    assert ctypes.cast(_lib.lib.bsnn_dataset_inputs(copied._p()), ctypes.c_void_p).value \
        != x.ctypes.data
    # A float64 temporary is converted once and the converted array lives
    # as long as the dataset, though nothing else refers to it.
    tmp = bsnn.Dataset(np.arange(12.0).reshape(6, 2) * 3.0, np.zeros(6), borrow=True)
    gc.collect()
    churn = [np.full(12, -7.0, np.float32) for _ in range(200)]
    assert tmp.x.tolist() == (np.arange(12.0).reshape(6, 2) * 3.0).tolist()
    del churn


def test_fit_on_borrowed_arrays_equals_fit_on_a_copied_dataset(rng):
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = rng.normal(size=(40, 2)).astype(np.float32)

    def trained(data):
        m = bsnn.Model(4, [bsnn.Dense(3), bsnn.Activation("tanh"), bsnn.Dense(2)], loss="mse",
                       seed=5)
        if isinstance(data, bsnn.Dataset):
            m.fit(data, batch_size=8, epochs=3, seed=2)
        else:
            m.fit(*data, batch_size=8, epochs=3, seed=2)
        return m.get_params()

    assert (trained((x, y)) == trained(bsnn.Dataset(x, y))).all(), "bit-identical"
