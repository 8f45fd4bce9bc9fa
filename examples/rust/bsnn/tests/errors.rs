//! Misuse gives an error with the right status and a message naming the
//! call and the value; the object is unchanged and still usable.

mod common;

use bsnn::{
    Activation, CsvHeader, Dataset, Layer, LayerKind, LayerParam, Loss, Model, OptParam, Optimizer,
    OptimizerKind, SchedParam, Scheduler, Status, Tensor, TensorView,
};
use common::TempDir;

#[test]
fn tensors_refuse_slices_that_do_not_match_their_shape() {
    let mut data = vec![0.0f32; 6];
    let e = Tensor::wrap(&mut data, &[2, 4]).err().unwrap();
    assert_eq!(e.status(), Status::Shape);
    assert!(e.message().contains("bsnn::Tensor::wrap") && e.message().contains("6"), "{}", e);
    assert_eq!(TensorView::new(&data, &[7]).err().unwrap().status(), Status::Shape);
    assert_eq!(TensorView::new(&data, &[]).err().unwrap().status(), Status::Shape);
    assert_eq!(TensorView::new(&data, &[1, 1, 1, 2, 3]).err().unwrap().status(), Status::Shape);
    assert_eq!(TensorView::new(&data, &[usize::MAX, 2]).err().unwrap().status(), Status::Shape);
    // A zero dimension matches an empty slice but the library refuses it.
    let e = TensorView::new(&[], &[0, 3]).err().unwrap();
    assert_eq!(e.status(), Status::Failed);
    assert!(e.message().contains("bsnn_tensor_wrap"), "{}", e);
    // Writes through a wrapped tensor land in the slice.
    let mut t = Tensor::wrap(&mut data, &[3, 2]).unwrap();
    t.fill(2.5);
    t.as_mut_slice()[0] = 1.0;
    drop(t);
    assert_eq!(data, [1.0, 2.5, 2.5, 2.5, 2.5, 2.5]);
}

#[test]
fn inference_and_training_refuse_wrong_shapes() {
    let mut m = Model::builder(3).dense(2).loss(Loss::Mse).build().unwrap();
    let e = m.predict(&[1.0; 7]).err().unwrap();
    assert_eq!(e.status(), Status::Shape);
    assert!(e.message().contains("bsnn::Model::predict"), "{}", e);
    assert_eq!(m.predict(&[]).err().unwrap().status(), Status::Shape);
    // A tensor of the wrong width reaches the library, which refuses it.
    let x = [0.5f32; 8];
    let wrong = TensorView::new(&x, &[2, 4]).unwrap();
    let mut out = Tensor::zeros(&[2, 2]).unwrap();
    let e = m.forward(&wrong, &mut out).err().unwrap();
    assert_eq!(e.status(), Status::Shape);
    assert!(e.message().contains("bsnn_model_forward"), "{}", e);
    let good = TensorView::new(&x[..6], &[2, 3]).unwrap();
    let mut out_wrong = Tensor::zeros(&[2, 3]).unwrap();
    assert_eq!(m.forward(&good, &mut out_wrong).err().unwrap().status(), Status::Shape);
    let mut opt = Optimizer::new(OptimizerKind::Sgd).unwrap();
    let y = [0.0f32; 3];
    let e = m.train_step(&mut opt, &good, &TensorView::new(&y, &[3, 1]).unwrap()).err().unwrap();
    assert_eq!(e.status(), Status::Shape);
    let before = m.params().unwrap();
    // Non-finite input: refused, parameters untouched.
    let nan = [f32::NAN, 0.0, 0.0];
    let e = m.predict(&nan).err().unwrap();
    assert_eq!(e.status(), Status::Arg);
    assert_eq!(m.params().unwrap(), before);
    assert_eq!(m.set_params(&before[1..]).err().unwrap().status(), Status::Shape);
}

#[test]
fn training_needs_a_loss_and_a_scheduler_of_the_dataset_size() {
    let data = Dataset::parity(2).unwrap();
    let mut m = Model::builder(2).dense(1).build().unwrap();
    assert_eq!(m.loss(), None);
    let mut opt = Optimizer::new(OptimizerKind::Sgd).unwrap();
    let mut sched = Scheduler::new(4).unwrap();
    let e = m.fit(&mut opt, &mut sched, &data, 1).run().err().unwrap();
    assert_eq!(e.status(), Status::State);
    assert!(e.message().contains("bsnn_model_train_ex"), "{}", e);
    assert_eq!(m.evaluate(&data, 4).err().unwrap().status(), Status::State);
    m.set_loss(Loss::Mse).unwrap();
    let mut wrong = Scheduler::new(5).unwrap();
    let e = m.fit(&mut opt, &mut wrong, &data, 1).run().err().unwrap();
    assert_eq!(e.status(), Status::Shape);
    assert!(e.message().contains('5'), "{}", e);
    // SOFTMAX_CE over one output is refused and the old loss kept.
    assert_eq!(m.set_loss(Loss::SoftmaxCe).err().unwrap().status(), Status::Arg);
    assert_eq!(m.loss(), Some(Loss::Mse));
    // After training has started a model takes no more layers; the refused
    // layer is consumed (freed by the library), never freed twice.
    m.fit(&mut opt, &mut sched, &data, 1).run().unwrap();
    assert_eq!(m.add(Layer::dense(3).unwrap()).err().unwrap().status(), Status::State);
    assert_eq!(m.n_layers(), 1);
    // An optimizer trained on one model is bound to it.
    let mut other = Model::builder(2).dense(1).loss(Loss::Mse).build().unwrap();
    let e = other.fit(&mut opt, &mut sched, &data, 1).run().err().unwrap();
    assert_eq!(e.status(), Status::State);
    opt.reset().unwrap();
    other.fit(&mut opt, &mut sched, &data, 1).run().unwrap();
}

#[test]
fn settings_out_of_bounds_are_refused_and_the_old_value_kept() {
    let mut opt = Optimizer::new(OptimizerKind::Adam).unwrap();
    let e = opt.set(OptParam::Lr, -1.0).err().unwrap();
    assert_eq!(e.status(), Status::Arg);
    assert!(e.message().contains("bsnn_optimizer_set"), "{}", e);
    assert_eq!(opt.get(OptParam::Lr).unwrap(), 0.001);
    let b = Optimizer::bounds(OptimizerKind::Adam, OptParam::Lr).unwrap();
    assert!(b.lo_open && !b.hi_open && b.lo == 0.0);
    assert!(!b.contains(0.0) && b.contains(0.5) && b.contains(b.hi) && !b.contains(b.hi * 2.0));
    assert_eq!(opt.set(OptParam::Momentum, 0.9).err().unwrap().status(), Status::Arg, "Adam has no momentum");
    assert_eq!(opt.set(OptParam::Beta1, f64::NAN).err().unwrap().status(), Status::Arg);

    let mut sched = Scheduler::new(10).unwrap();
    assert_eq!(sched.set_batch_size(0).err().unwrap().status(), Status::Arg);
    assert_eq!(sched.set_batch_size(11).err().unwrap().status(), Status::Arg);
    assert_eq!(sched.get(SchedParam::BatchSize).unwrap(), 10.0, "default 32 clamped to N");
    assert_eq!(sched.set_batch_steps(&[0, 2], &[1]).err().unwrap().status(), Status::Shape);
    assert_eq!(sched.bounds(SchedParam::BatchSize).unwrap().hi, 10.0);

    let e = Layer::dropout(1.5).err().unwrap();
    assert_eq!(e.status(), Status::Failed);
    assert!(e.message().contains("bsnn_layer_dropout"), "{}", e);
    let mut d = Layer::dropout(0.5).unwrap();
    assert_eq!(d.kind(), Some(LayerKind::Dropout));
    assert_eq!(d.set(LayerParam::L2, 0.1).err().unwrap().status(), Status::Arg, "dropout has no L2");
    assert_eq!(d.set(LayerParam::Rate, 1.0).err().unwrap().status(), Status::Arg);
    assert_eq!(d.get(LayerParam::Rate).unwrap(), 0.5);
    d.set_seed(u64::MAX).unwrap();
    assert_eq!(d.seed().unwrap(), u64::MAX, "every u64 seed, beyond 2^53");
    assert_eq!(Layer::dense(0).err().unwrap().status(), Status::Failed);
    assert_eq!(Model::new(0).err().unwrap().status(), Status::Failed);
    assert_eq!(Scheduler::new(0).err().unwrap().status(), Status::Failed);
}

#[test]
fn a_builder_reports_its_first_error() {
    let e = Model::builder(2).dense(4).dropout(2.0).dense(0).build().err().unwrap();
    assert!(e.message().contains("bsnn_layer_dropout"), "{}", e);
    let e = Model::builder(2)
        .dense(1)
        .activation(Activation::Sigmoid)
        .loss(Loss::BceLogits)
        .build()
        .err()
        .unwrap();
    assert_eq!(e.status(), Status::Arg, "BCE_LOGITS after a sigmoid is refused: {}", e);
}

#[test]
fn datasets_refuse_ragged_arrays_and_bad_files() {
    let e = Dataset::new(&[1.0; 6], &[0.0; 2], 3, 2).err().unwrap();
    assert_eq!(e.status(), Status::Shape);
    assert!(e.message().contains("bsnn::Dataset::new"), "{}", e);
    assert_eq!(Dataset::new(&[1.0; 6], &[0.0; 3], 4, 1).err().unwrap().status(), Status::Shape);
    assert_eq!(Dataset::new(&[], &[], 2, 1).err().unwrap().status(), Status::Failed);
    assert_eq!(Dataset::new(&[f32::INFINITY, 0.0], &[0.0], 2, 1).err().unwrap().status(), Status::Failed);

    let dir = TempDir::new("csv");
    let e = Dataset::load_csv(dir.path("missing.csv"), CsvHeader::Detect, &[0]).err().unwrap();
    assert!(e.message().contains("missing.csv"), "{}", e);
    let ragged = dir.path("ragged.csv");
    std::fs::write(&ragged, "a,b,c\n1,2,3\n4,5\n").unwrap();
    let e = Dataset::load_csv(&ragged, CsvHeader::Detect, &[2]).err().unwrap();
    assert!(e.message().contains("ragged.csv") && e.message().contains('3'), "{}", e);
    let good = dir.path("good.csv");
    std::fs::write(&good, "x1,x2,y\n1,2,0\n3,4,1\n").unwrap();
    let ds = Dataset::load_csv(&good, CsvHeader::Detect, &[2]).unwrap();
    assert_eq!((ds.len(), ds.n_inputs(), ds.n_targets()), (2, 2, 1));
    assert_eq!(ds.inputs(), &[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(ds.targets(), &[0.0, 1.0]);
    assert!(Dataset::load_csv(&good, CsvHeader::Yes, &[3]).is_err(), "target column out of range");
    assert!(Dataset::load_idx(&good, &good, None).is_err());
    assert_eq!(ds.one_hot(1).err().unwrap().status(), Status::Failed);
    let hot = ds.one_hot(2).unwrap();
    assert_eq!(hot.targets(), &[1.0, 0.0, 0.0, 1.0]);
}

#[test]
fn error_display_carries_message_and_status() {
    let e = Optimizer::new(OptimizerKind::Sgd).unwrap().with(OptParam::Lr, 0.0).err().unwrap();
    let shown = e.to_string();
    assert!(shown.contains("bsnn_optimizer_set") && shown.contains("invalid argument"), "{}", shown);
    assert_eq!(Status::NoMem.description(), "out of memory");
    assert_eq!(Status::from_raw(-1000), Some(Status::Other(-1000)));
    assert_eq!(Status::Other(-1000).description(), "unknown status");
    assert_eq!(Status::from_raw(0), None);
    let _: &dyn std::error::Error = &e;
}
