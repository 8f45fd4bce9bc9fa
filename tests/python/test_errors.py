"""Every failed bsnn call raises the class of its status, carrying the
status and bsnn_last_error() (which names the C function); each class is
reached through a real failure of the library where one exists."""
import ctypes

import numpy as np
import pytest

import bsnn
from bsnn import _lib, errors


def raised(fn):
    with pytest.raises(bsnn.BsnnError) as e:
        fn()
    return e.value


def test_every_status_but_ok_has_its_own_class():
    classes = [errors.BY_STATUS[s] for s in bsnn.Status if s != bsnn.Status.OK]
    assert len(set(classes)) == len(bsnn.Status) - 1
    for s in bsnn.Status:
        if s == bsnn.Status.OK:
            continue
        e = errors.error_for(int(s), "f: why")
        assert type(e) is errors.BY_STATUS[s] and e.status == s and str(e) == "f: why"
        assert isinstance(e, bsnn.BsnnError)


def test_an_unknown_status_keeps_its_number():
    e = errors.error_for(-42, "bsnn_x: new failure")
    assert type(e) is bsnn.BsnnError and e.status == -42 and e.message == "bsnn_x: new failure"
    assert bsnn.status_string(-42) == "unknown status"


def test_null_error():
    e = raised(lambda: _lib.check(_lib.lib.bsnn_history_clear(None)))
    assert type(e) is bsnn.NullError and e.status == bsnn.Status.E_NULL
    assert "bsnn_history_clear" in e.message


def test_argument_error_is_a_value_error():
    e = raised(lambda: bsnn.Optimizer("adam", lr=-1.0))
    assert type(e) is bsnn.ArgumentError and isinstance(e, ValueError)
    assert e.status == bsnn.Status.E_ARG and "bsnn_optimizer_set" in str(e) and "-1" in str(e)


def test_shape_error():
    m = bsnn.Model(2, [bsnn.Dense(1)], loss="mse")
    e = raised(lambda: m.predict(np.ones((3, 3))))
    assert type(e) is bsnn.ShapeError and isinstance(e, ValueError)
    assert "bsnn_model_forward" in str(e) and "3 columns" in str(e)


def test_state_error():
    m = bsnn.Model(2, [bsnn.Dense(1)])  # no loss chosen
    e = raised(lambda: m.fit(np.ones((4, 2)), np.ones(4)))
    assert type(e) is bsnn.StateError and e.status == bsnn.Status.E_STATE
    assert "bsnn_model_train_ex" in str(e) and "loss" in str(e)


def test_file_error_is_an_os_error(tmp_path):
    e = raised(lambda: bsnn.Model.load(tmp_path / "missing.bsnn"))
    assert type(e) is bsnn.FileError and isinstance(e, OSError)
    assert "missing.bsnn" in str(e) and e.status == bsnn.Status.E_IO


def test_format_error(tmp_path):
    p = tmp_path / "not-a-model.bsnn"
    p.write_bytes(b"x,y\n1,2\n")
    e = raised(lambda: bsnn.Model.load(p))
    assert type(e) is bsnn.FormatError and e.status == bsnn.Status.E_FORMAT


def test_diverged_error_leaves_the_parameters():
    m = bsnn.Model(2, [bsnn.Dense(1)], loss="mse")
    before = m.get_params()
    e = raised(lambda: m.train_step(np.full((1, 2), 1e30), np.zeros((1, 1)), optimizer="sgd"))
    assert type(e) is bsnn.DivergedError and isinstance(e, ArithmeticError)
    assert np.array_equal(m.get_params(), before)


def test_no_memory_error_class():
    # The real failure is injected in test_lifetime (a counting allocator in
    # a fresh interpreter); here the class itself.
    e = errors.error_for(int(bsnn.Status.E_NOMEM), "bsnn_model_add: out of memory")
    assert isinstance(e, bsnn.NoMemoryError) and isinstance(e, MemoryError)


def test_unsupported_error_class():
    # No function of a complete build returns BSNN_E_UNSUPPORTED.
    e = errors.error_for(int(bsnn.Status.E_UNSUPPORTED), "bsnn_x: not in this build")
    assert type(e) is bsnn.UnsupportedError and e.status == bsnn.Status.E_UNSUPPORTED


def test_callback_error_class():
    # BSNN_E_CALLBACK comes from a gradient hook, which the package does not
    # install; here the class itself.
    e = errors.error_for(int(bsnn.Status.E_CALLBACK), "bsnn_model_train_step: hook")
    assert type(e) is bsnn.CallbackError and e.status == bsnn.Status.E_CALLBACK


def test_constructor_error_carries_the_message():
    e = raised(lambda: bsnn.Dropout(1.5))
    assert type(e) is bsnn.ConstructorError and e.status is None
    assert "bsnn_layer_dropout" in str(e)


def test_python_side_refusals_are_value_and_type_errors():
    with pytest.raises(ValueError, match="unknown ActivationKind 'relux'; one of linear"):
        bsnn.Activation("relux")
    with pytest.raises(TypeError):
        bsnn.Model(2).add("dense")
    with pytest.raises(ValueError, match="embedded null"):
        bsnn.Model(2, [bsnn.Dense(1)]).save("a\0b")


def test_the_message_is_read_at_the_failure_not_later():
    m = bsnn.Model(2, [bsnn.Dense(1)], loss="mse")
    first = raised(lambda: m.predict(np.ones((1, 5))))
    second = raised(lambda: bsnn.Optimizer("sgd", lr=0.0))
    assert "5 columns" in str(first) and "bsnn_optimizer_set" in str(second)
    assert _lib.last_error() == str(second)
    assert ctypes.c_int(int(second.status)).value == -2
