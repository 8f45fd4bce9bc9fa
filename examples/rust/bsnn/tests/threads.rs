//! Several threads run inference on ONE model at once, each with its own
//! workspace, and get exactly what one thread gets for the same rows.

mod common;

use bsnn::{Activation, Model, Workspace};
use common::values;

#[test]
fn scoped_threads_share_a_model_through_workspaces() {
    let mut m = Model::builder(5).dense(16).activation(Activation::Relu).dense(3).seed(2).build().unwrap();
    let x = values(4, 200 * 5);
    // Per thread t: the first 40 (t + 1) rows, then all 200 (the workspace
    // grows), each compared with one thread's answer for the same call.
    let want: Vec<(Vec<f32>, Vec<f32>)> =
        (0..4).map(|t| (m.predict(&x[..40 * (t + 1) * 5]).unwrap(), m.predict(&x).unwrap())).collect();
    let model = &m;
    let got: Vec<(Vec<f32>, Vec<f32>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let x = &x;
                s.spawn(move || {
                    let mut ws = Workspace::new(model).unwrap();
                    let mut first = Vec::new();
                    let mut all = Vec::new();
                    for _ in 0..20 {
                        first = model.predict_ws(&mut ws, &x[..40 * (t + 1) * 5]).unwrap();
                        all = model.predict_ws(&mut ws, x).unwrap();
                    }
                    (first, all)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(got, want);
    // A workspace serves only its own model.
    let other = Model::builder(5).dense(3).build().unwrap();
    let mut ws = Workspace::new(&other).unwrap();
    let e = m.predict_ws(&mut ws, &x[..5]).err().unwrap();
    assert_eq!(e.status(), bsnn::Status::Arg);
}
