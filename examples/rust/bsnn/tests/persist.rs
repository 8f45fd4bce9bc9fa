//! Model files and buffers round-trip exactly; a checkpoint, saved between
//! calls or from inside the training callback, resumes bit-identically to
//! a run that never stopped; bad files are errors with the right status.

mod common;

use bsnn::{
    Activation, Checkpoint, Dataset, EventKind, Loss, Model, OptParam, Optimizer, OptimizerKind, Playground,
    SchedParam, Scheduler, Status,
};
use common::{values, TempDir};
use std::ops::ControlFlow;

fn trained() -> (Model, Dataset) {
    let data = Dataset::playground(Playground::Circle, 100, 0.0, 2, true).unwrap();
    let mut m = Model::builder(2)
        .dense(6)
        .activation(Activation::Tanh)
        .batchnorm()
        .dense(1)
        .loss(Loss::BceLogits)
        .seed(11)
        .build()
        .unwrap();
    let mut opt = Optimizer::new(OptimizerKind::Adam).unwrap();
    let mut sched = Scheduler::new(100).unwrap().with(SchedParam::DropLast, 1).unwrap();
    m.fit(&mut opt, &mut sched, &data, 3).run().unwrap();
    (m, data)
}

#[test]
fn a_saved_model_loads_with_the_same_parameters_settings_and_outputs() {
    let dir = TempDir::new("save");
    let (m, data) = trained();
    let path = dir.path("m.bsnn");
    m.save(&path).unwrap();
    let loaded = Model::load(&path).unwrap();
    assert_eq!(loaded.params().unwrap(), m.params().unwrap());
    assert_eq!(loaded.n_layers(), 4);
    assert_eq!(loaded.loss(), Some(Loss::BceLogits));
    assert_eq!(loaded.seed().unwrap(), 11);
    let x = data.inputs();
    let (mut a, mut b) = (m.try_clone().unwrap(), loaded);
    assert_eq!(a.predict(x).unwrap(), b.predict(x).unwrap(), "batch-norm statistics must round-trip too");
    // Bytes are the file's bytes.
    let bytes = m.to_bytes().unwrap();
    assert_eq!(bytes, std::fs::read(&path).unwrap());
    let mut c = Model::from_bytes(&bytes).unwrap();
    assert_eq!(c.predict(x).unwrap(), b.predict(x).unwrap());
}

#[test]
fn try_clone_is_independent_of_the_original() {
    let (m, data) = trained();
    let before = m.params().unwrap();
    let mut copy = m.try_clone().unwrap();
    let mut opt = Optimizer::new(OptimizerKind::Sgd).unwrap();
    let mut sched = Scheduler::new(data.len()).unwrap();
    copy.fit(&mut opt, &mut sched, &data, 1).run().unwrap();
    assert_ne!(copy.params().unwrap(), before);
    assert_eq!(m.params().unwrap(), before);
}

fn fresh() -> (Model, Optimizer, Scheduler, Dataset) {
    let x = values(3, 60 * 3);
    let y: Vec<f32> = x.chunks(3).map(|r| r[0] * r[1] - r[2]).collect();
    let data = Dataset::new(&x, &y, 3, 1).unwrap();
    let m = Model::builder(3)
        .dense(5)
        .activation(Activation::Relu)
        .dropout(0.2)
        .dense(1)
        .loss(Loss::MseMean)
        .seed(4)
        .build()
        .unwrap();
    let opt = Optimizer::new(OptimizerKind::Adam).unwrap().with(OptParam::Lr, 0.01).unwrap();
    let mut sched = Scheduler::new(60).unwrap();
    sched.set_batch_size(7).unwrap().set_seed(99).unwrap();
    (m, opt, sched, data)
}

#[test]
fn training_resumed_from_a_checkpoint_matches_a_run_that_never_stopped() {
    let dir = TempDir::new("ckpt");
    let (mut m, mut opt, mut sched, data) = fresh();
    m.fit(&mut opt, &mut sched, &data, 6).run().unwrap();
    let straight = m.params().unwrap();

    let (mut m, mut opt, mut sched, data) = fresh();
    m.fit(&mut opt, &mut sched, &data, 3).run().unwrap();
    let path = dir.path("run.ckpt");
    Checkpoint::save(&path, &m, Some(&opt), Some(&sched)).unwrap();
    drop((m, opt, sched));
    let Checkpoint { model, optimizer, scheduler } = Checkpoint::load(&path).unwrap();
    let (mut m, mut opt, mut sched) = (model, optimizer.unwrap(), scheduler.unwrap());
    assert_eq!(sched.epoch(), 3);
    m.fit(&mut opt, &mut sched, &data, 3).run().unwrap();
    assert_eq!(m.params().unwrap(), straight);
}

#[test]
fn a_checkpoint_written_by_the_epoch_callback_resumes_exactly() {
    let (mut m, mut opt, mut sched, data) = fresh();
    m.fit(&mut opt, &mut sched, &data, 5).run().unwrap();
    let straight = m.params().unwrap();

    let (mut m, mut opt, mut sched, data) = fresh();
    let mut saved = None;
    m.fit(&mut opt, &mut sched, &data, 5)
        .on_event(|p| {
            if p.event.kind == EventKind::Epoch && p.event.epoch == 1 {
                let bytes =
                    Checkpoint::to_bytes(p.model(), Some(p.optimizer()), Some(p.scheduler())).unwrap();
                saved = Some(bytes);
            }
            ControlFlow::Continue(())
        })
        .run()
        .unwrap();
    assert_eq!(m.params().unwrap(), straight, "checkpointing must not disturb the run");
    let ck = Checkpoint::from_bytes(&saved.unwrap()).unwrap();
    let (mut m, mut opt, mut sched) = (ck.model, ck.optimizer.unwrap(), ck.scheduler.unwrap());
    assert_eq!(sched.epoch(), 2);
    m.fit(&mut opt, &mut sched, &data, 3).run().unwrap();
    assert_eq!(m.params().unwrap(), straight);
}

#[test]
fn a_checkpoint_may_hold_the_model_alone() {
    let (m, _, _, _) = fresh();
    let ck = Checkpoint::from_bytes(&Checkpoint::to_bytes(&m, None, None).unwrap()).unwrap();
    assert!(ck.optimizer.is_none() && ck.scheduler.is_none());
    assert_eq!(ck.model.params().unwrap(), m.params().unwrap());
}

#[test]
fn bad_files_and_buffers_are_errors_naming_the_problem() {
    let dir = TempDir::new("bad");
    let missing = Model::load(dir.path("none.bsnn")).err().unwrap();
    assert_eq!(missing.status(), Status::Io);
    assert!(missing.message().contains("bsnn_model_load"), "{}", missing);
    assert!(missing.message().contains("none.bsnn"), "{}", missing);

    let garbage = dir.path("garbage.bsnn");
    std::fs::write(&garbage, b"this is not a model file at all, just words").unwrap();
    assert_eq!(Model::load(&garbage).err().unwrap().status(), Status::Format);

    assert_eq!(Model::load(&dir.0).err().unwrap().status(), Status::Io, "a directory");

    // Every truncation of a real file is refused, never misread.
    let (m, _, _, _) = fresh();
    let bytes = m.to_bytes().unwrap();
    for cut in [0, 1, 8, bytes.len() / 2, bytes.len() - 1] {
        let e = Model::from_bytes(&bytes[..cut]).err().unwrap_or_else(|| panic!("cut at {} loaded", cut));
        assert_eq!(e.status(), Status::Format, "cut at {}: {}", cut, e);
    }
    // A flipped byte fails its checksum.
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    assert_eq!(Model::from_bytes(&flipped).err().unwrap().status(), Status::Format);
    // A model file is not a checkpoint.
    assert_eq!(Checkpoint::from_bytes(&bytes).err().unwrap().status(), Status::Format);
    // A path the OS cannot take.
    let e = m.save("bad\0name").err().unwrap();
    assert_eq!(e.status(), Status::Arg);
    assert!(e.message().contains("NUL"), "{}", e);
    let e = m.save(dir.path("no/such/dir/m.bsnn")).err().unwrap();
    assert_eq!(e.status(), Status::Io);
}
