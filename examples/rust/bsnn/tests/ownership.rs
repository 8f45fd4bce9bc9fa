//! Every handle the crate makes is freed exactly once: the library's
//! allocator hook counts live blocks while the whole API is exercised
//! (error paths included: a layer consumed by a failed add, a panicking
//! callback, half-built builders), and nothing is left or freed twice.
//!
//! One test in its own binary: the hook is process-wide and may only be
//! set while no bsnn object exists.

use bsnn::{
    sys, Activation, Checkpoint, Dataset, EventKind, History, Layer, Loss, Model, Optimizer, OptimizerKind,
    Playground, Scheduler, Search, SearchParam, Tensor, TensorView, Workspace,
};
use std::alloc::{self, Layout};
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::os::raw::c_void;
use std::sync::Mutex;

#[derive(Default)]
struct Ledger {
    live: HashMap<usize, usize>,
    allocations: usize,
    bad_frees: usize,
}

static LEDGER: Mutex<Option<Ledger>> = Mutex::new(None);

unsafe extern "C" fn count_alloc(_user: *mut c_void, size: usize) -> *mut c_void {
    let p = alloc::alloc(Layout::from_size_align(size.max(1), 16).unwrap());
    if let Ok(mut g) = LEDGER.lock() {
        let l = g.as_mut().unwrap();
        l.live.insert(p as usize, size);
        l.allocations += 1;
    }
    p as *mut c_void
}

unsafe extern "C" fn count_free(_user: *mut c_void, ptr: *mut c_void, size: usize) {
    if let Ok(mut g) = LEDGER.lock() {
        let l = g.as_mut().unwrap();
        if l.live.remove(&(ptr as usize)) != Some(size) {
            l.bad_frees += 1;
            return; // never hand the system allocator a bad pointer
        }
    }
    alloc::dealloc(ptr as *mut u8, Layout::from_size_align(size.max(1), 16).unwrap());
}

fn exercise() {
    let data = Dataset::playground(Playground::Spiral, 80, 0.1, 1, true).unwrap();
    let (train, val) = data.split(0.75, 2).unwrap();
    let mut m = Model::builder(2)
        .dense(8)
        .activation(Activation::Relu)
        .batchnorm()
        .dropout(0.1)
        .dense(1)
        .loss(Loss::BceLogits)
        .build()
        .unwrap();
    // A builder that fails half-way frees what it built.
    assert!(Model::builder(2).dense(4).dropout(7.0).dense(1).build().is_err());
    let mut opt = Optimizer::new(OptimizerKind::AdamW).unwrap();
    let mut sched = Scheduler::new(train.len()).unwrap();
    sched.set_batch_size(10).unwrap();
    let mut history = History::new().unwrap();
    let mut ckpt = Vec::new();
    m.fit(&mut opt, &mut sched, &train, 3)
        .validation(&val)
        .history(&mut history)
        .on_event(|p| {
            if p.event.kind == EventKind::Epoch {
                ckpt = Checkpoint::to_bytes(p.model(), Some(p.optimizer()), Some(p.scheduler())).unwrap();
            }
            ControlFlow::Continue(())
        })
        .run()
        .unwrap();
    // A panicking callback.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.fit(&mut opt, &mut sched, &train, 1).on_event(|_| panic!("stop")).run()
    }));
    assert!(r.is_err());
    // A layer refused by a trained model is consumed by the library.
    assert!(m.add(Layer::dense(2).unwrap()).is_err());
    // A layer never added is freed by its drop.
    drop(Layer::batchnorm().unwrap());
    let restored = Checkpoint::from_bytes(&ckpt).unwrap();
    assert!(restored.optimizer.is_some() && restored.scheduler.is_some());
    assert!(Checkpoint::from_bytes(&ckpt[..ckpt.len() / 2]).is_err());
    let bytes = m.to_bytes().unwrap();
    let mut copy = Model::from_bytes(&bytes).unwrap();
    assert!(Model::from_bytes(&bytes[..bytes.len() - 3]).is_err());
    let x = train.inputs();
    let mut ws = Workspace::new(&copy).unwrap();
    assert_eq!(copy.predict_ws(&mut ws, x).unwrap(), copy.predict(x).unwrap());
    let view = TensorView::new(&x[..4], &[2, 2]).unwrap();
    let mut out = Tensor::zeros(&[2, 1]).unwrap();
    copy.forward(&view, &mut out).unwrap();
    let mut search = Search::new().unwrap().with(SearchParam::Budget, 1).unwrap();
    let mut opt2 = Optimizer::new(OptimizerKind::Sgd).unwrap();
    search.sweep(&mut copy, &mut opt2, &train, &val, Some(&sched), &[5, 20]).unwrap();
    let (a, b) = Dataset::toy1d().unwrap();
    assert!(a.len() == 6 && b.len() == 2);
    assert!(Dataset::load_csv("/nonexistent.csv", bsnn::CsvHeader::Detect, &[0]).is_err());
    let hot = Dataset::new(&[0.0, 1.0, 2.0], &[0.0, 1.0, 2.0], 1, 1).unwrap().one_hot(3).unwrap();
    assert_eq!(hot.n_targets(), 3);
    let (xs, ys) = (train.inputs().to_vec(), train.targets().to_vec());
    let view = Dataset::wrap(&xs, &ys, 2, 1).unwrap();
    assert!(copy.evaluate(&view, 7).unwrap().loss.is_finite());
    let (vt, vv) = view.split(0.5, 1).unwrap();
    assert_eq!(vt.len() + vv.len(), view.len());
}

#[test]
fn every_allocation_is_freed_exactly_once() {
    *LEDGER.lock().unwrap() = Some(Ledger::default());
    let st = unsafe { sys::bsnn_set_allocator(Some(count_alloc), Some(count_free), std::ptr::null_mut()) };
    assert_eq!(st, sys::BSNN_OK);
    exercise();
    let st = unsafe { sys::bsnn_set_allocator(None, None, std::ptr::null_mut()) };
    let ledger = LEDGER.lock().unwrap().take().unwrap();
    assert_eq!(st, sys::BSNN_OK, "objects still alive: {}", bsnn::last_error());
    assert!(ledger.allocations > 100, "the hook saw only {} allocations", ledger.allocations);
    assert_eq!(ledger.bad_frees, 0, "blocks freed twice or with the wrong size");
    assert!(
        ledger.live.is_empty(),
        "{} blocks leaked: {:?}",
        ledger.live.len(),
        ledger.live.values().collect::<Vec<_>>()
    );
}
