"""Save/load round trips (files, bytes, pickle) and checkpoints: a resumed
run gives the parameters of a run that never stopped, bit for bit."""
import pickle

import numpy as np
import pytest

import bsnn


@pytest.fixture
def data(rng):
    x = rng.normal(size=(40, 3)).astype(np.float32)
    labels = (x.sum(1) > 0).astype(np.int64) + (x[:, 0] > 1)
    return x, labels


def make_model():
    return bsnn.Model(3, [bsnn.Dense(6), bsnn.BatchNorm(), bsnn.Activation("relu"),
                          bsnn.Dropout(0.1, seed=4), bsnn.Dense(3)], loss="softmax_ce", seed=9)


def test_file_round_trip_is_exact(data, tmp_path):
    x, labels = data
    m = make_model()
    m.fit(x, labels, batch_size=8, epochs=3)
    p = tmp_path / "m.bsnn"
    m.save(p)
    back = bsnn.Model.load(str(p))
    assert np.array_equal(back.get_params(), m.get_params())
    assert np.array_equal(back.predict(x), m.predict(x))  # batch-norm statistics too
    assert back.loss == bsnn.Loss.SOFTMAX_CE and back.n_inputs == 3 and back.n_outputs == 3
    assert back.evaluate(x, labels) == m.evaluate(x, labels)


def test_bytes_and_pickle_round_trips(data):
    x, _ = data
    m = make_model()
    b = m.to_bytes()
    assert bsnn.Model.from_bytes(b).to_bytes() == b
    assert np.array_equal(pickle.loads(pickle.dumps(m)).predict(x), m.predict(x))
    assert bsnn.Model.from_bytes(bytearray(b)).param_count == m.param_count


def test_damaged_bytes_are_format_errors(data):
    b = bytearray(make_model().to_bytes())
    b[len(b) // 2] ^= 0xFF
    with pytest.raises(bsnn.FormatError):
        bsnn.Model.from_bytes(bytes(b))
    with pytest.raises(bsnn.FormatError):
        bsnn.Model.from_bytes(b[:10])


def uninterrupted(x, labels, epochs):
    m = make_model()
    opt = bsnn.Optimizer("adam", lr=0.01)
    m.fit(x, labels, epochs=epochs, optimizer=opt, scheduler=bsnn.Scheduler(len(x), batch_size=6,
                                                                           seed=3))
    return m.get_params()


def test_checkpoint_resume_is_bit_identical(data, tmp_path):
    x, labels = data
    m = make_model()
    opt = bsnn.Optimizer("adam", lr=0.01)
    sched = bsnn.Scheduler(len(x), batch_size=6, seed=3)
    m.fit(x, labels, epochs=2, optimizer=opt, scheduler=sched)
    p = tmp_path / "run.ckpt"
    bsnn.save_checkpoint(p, m, opt, sched)
    del m, opt, sched
    ck = bsnn.load_checkpoint(p)
    assert ck.model.optimizer is ck.optimizer and ck.scheduler.epoch == 2
    ck.model.fit(x, labels, epochs=3, scheduler=ck.scheduler)  # optimizer: the checkpoint's
    assert np.array_equal(ck.model.get_params(), uninterrupted(x, labels, 5))


def test_fit_writes_a_checkpoint_every_epoch(data, tmp_path):
    x, labels = data
    p = tmp_path / "every-epoch.ckpt"
    epochs_seen = []
    m = make_model()

    def stop_after_two(progress):
        if progress.event == bsnn.Event.EPOCH:
            epochs_seen.append(bsnn.load_checkpoint(p).scheduler.epoch)
            return progress.epoch == 1  # "crash" after the second epoch

    m.fit(x, labels, epochs=5, optimizer=bsnn.Optimizer("adam", lr=0.01),
          scheduler=bsnn.Scheduler(len(x), batch_size=6, seed=3), checkpoint=p,
          callbacks=[stop_after_two])
    assert epochs_seen == [1, 2]
    ck = bsnn.load_checkpoint(p)
    ck.model.fit(x, labels, epochs=3, scheduler=ck.scheduler)
    assert np.array_equal(ck.model.get_params(), uninterrupted(x, labels, 5))


def test_checkpoint_bytes_and_parts(data):
    m = make_model()
    only_model = bsnn.load_checkpoint_bytes(bsnn.checkpoint_bytes(m))
    assert only_model.optimizer is None and only_model.scheduler is None
    assert np.array_equal(only_model.model.get_params(), m.get_params())
    with pytest.raises(bsnn.FormatError):
        bsnn.load_checkpoint_bytes(m.to_bytes())  # a model file is not a checkpoint


def test_a_save_that_cannot_happen_is_a_file_error(tmp_path):
    with pytest.raises(bsnn.FileError, match="bsnn_model_save"):
        make_model().save(tmp_path / "no-such-dir" / "m.bsnn")
