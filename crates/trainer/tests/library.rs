//! Library-level tests: parameter groups, optimizer parity with torch.optim, loading a
//! torchvision-named ResNet-18 state dict.

mod common;

use common::*;
use lrplan_schedule::OptimizerKind;
use lrplan_trainer::checkpoint::write_tensors_synced;
use lrplan_trainer::groups::{self, GroupBy};
use lrplan_trainer::model::{Arch, Builtin as Model, Init, Network};
use lrplan_trainer::optim::{Kernels, Optimizer};
use lrplan_trainer::pretrained::{self, WeightOptions};
use lrplan_trainer::tensors::read_file as read_tensors;
use tch::{Device, Kind, Tensor};

fn names(model: &Model, members: &[usize]) -> Vec<String> {
    members
        .iter()
        .map(|&i| model.registry.entries[i].name.clone())
        .collect()
}

#[test]
fn groups_by_module_kind() {
    // (arch, classes, [bn weights, weights, biases], trainable parameters)
    let cases = [
        (Arch::SmallCnn, 10, [3, 4, 4], 24_346),
        (Arch::Resnet18, 1000, [20, 21, 21], 11_689_512),
        (Arch::Resnet34, 1000, [36, 37, 37], 21_797_672),
        (Arch::Resnet50, 1000, [53, 54, 54], 25_557_032),
    ];
    for (arch, classes, counts, params) in cases {
        let m = Model::new(arch, classes, Device::Cpu, Init::Normal).unwrap();
        assert_eq!(m.parameter_count(), params, "{arch:?}");
        let g = groups::build(&m.registry, GroupBy::Kind, 1.0);
        assert_eq!(g.len(), 3);
        let got: Vec<usize> = g.iter().map(|g| g.members.len()).collect();
        assert_eq!(got, counts, "{arch:?}");
        let g0 = names(&m, &g[0].members);
        let g1 = names(&m, &g[1].members);
        let g2 = names(&m, &g[2].members);
        assert!(g0.iter().all(|n| n.ends_with(".weight")));
        assert!(g2.iter().all(|n| n.ends_with(".bias")));
        assert!(g1.iter().all(|n| n.ends_with(".weight")));
        assert!(g.iter().all(|g| g.lr_mult == 1.0));
        assert!(g[0].decays.iter().all(|d| !d) && g[2].decays.iter().all(|d| !d));
        assert!(g[1].decays.iter().all(|&d| d));
        if arch != Arch::SmallCnn {
            assert!(g0.contains(&"bn1.weight".to_string()));
            assert!(g0.contains(&"layer2.0.downsample.1.weight".to_string()));
            assert!(g1.contains(&"conv1.weight".to_string()));
            assert!(g1.contains(&"layer2.0.downsample.0.weight".to_string()));
            assert!(g1.contains(&"fc.weight".to_string()));
            assert!(g2.contains(&"fc.bias".to_string()));
            assert!(m.entry("bn1.num_batches_tracked").is_some());
            assert_eq!(
                m.entry("bn1.num_batches_tracked").unwrap().tensor.kind(),
                Kind::Int64
            );
        } else {
            assert!(g1.contains(&"head.weight".to_string()));
        }
        let sub = groups::build(&m.registry, GroupBy::Subnet, 10.0);
        assert_eq!(sub.len(), 2);
        assert_eq!(sub[1].lr_mult, 10.0);
        assert_eq!(sub[1].members.len(), 2, "head: weight and bias");
        assert_eq!(
            sub[0].members.len() + 2,
            counts.iter().sum::<usize>(),
            "backbone holds the rest"
        );
    }
}

type OptParam = (&'static [i64], bool, fn(usize) -> bool);

/// The optimizer test's parameters: (shape, decays, has a gradient at step `k`). One is
/// frozen (never a gradient), one misses steps 1 and 2, one starts at step 2 (so SGD's
/// momentum buffers are partly new), as torch.optim sees `p.grad = None`.
const OPT_PARAMS: [OptParam; 7] = [
    (&[4, 3, 3, 3], true, |_| true),
    (&[4], false, |_| true),
    (&[10, 4], true, |_| true),
    (&[10], false, |_| true),
    (&[5, 2], true, |_| false),
    (&[7], true, |k| k != 1 && k != 2),
    (&[3], false, |k| k >= 2),
];

/// Runs `kind` with `kernels` from `init` through `grads` (`None`: no gradient) at `lrs`;
/// returns the parameters and the optimizer.
fn run_optimizer(
    (kind, kernels): (OptimizerKind, Kernels),
    (momentum, wd): (f64, f64),
    init: &[Tensor],
    grads: &[Vec<Option<Tensor>>],
    lrs: &[f64],
) -> (Vec<Tensor>, Optimizer) {
    let params: Vec<Tensor> = init.iter().map(Tensor::copy).collect();
    let group = |d: bool| {
        let members = params
            .iter()
            .enumerate()
            .filter(|(i, _)| OPT_PARAMS[*i].1 == d);
        (
            1.0,
            members
                .map(|(i, p)| (format!("p{i}"), p.shallow_clone(), d))
                .collect(),
        )
    };
    let mut opt = Optimizer::new(kind, momentum, wd, vec![group(false), group(true)]);
    opt.kernels = kernels;
    let order: Vec<usize> = [false, true]
        .iter()
        .flat_map(|&d| (0..params.len()).filter(move |&i| OPT_PARAMS[i].1 == d))
        .collect();
    for (step, &lr) in grads.iter().zip(lrs) {
        opt.set_lr(lr);
        let g = order
            .iter()
            .map(|&i| step[i].as_ref().map_or_else(Tensor::new, Tensor::copy));
        opt.step_with(g.collect()).unwrap();
    }
    (params, opt)
}

#[test]
fn optimizers_match_torch_optim() {
    let tmp = tempfile::tempdir().unwrap();
    tch::manual_seed(7);
    let lrs = [0.1, 0.05, 0.02, 0.07, 0.01, 0.03];
    let randn = |s: &[i64]| Tensor::randn(s, (Kind::Float, Device::Cpu));
    let init: Vec<Tensor> = OPT_PARAMS.iter().map(|p| randn(p.0)).collect();
    let grads: Vec<Vec<Option<Tensor>>> = (0..lrs.len())
        .map(|k| {
            OPT_PARAMS
                .iter()
                .map(|p| p.2(k).then(|| randn(p.0)))
                .collect()
        })
        .collect();
    let mut file = Vec::new();
    for (i, p) in init.iter().enumerate() {
        file.push((format!("p.{i}"), p.shallow_clone()));
        file.push((format!("d.{i}"), Tensor::from(f32::from(OPT_PARAMS[i].1))));
        for (k, g) in grads.iter().enumerate() {
            if let Some(g) = &g[i] {
                file.push((format!("g.{k}.{i}"), g.shallow_clone()));
            }
        }
    }
    let inp = tmp.path().join("in.safetensors");
    write_tensors_synced(&inp, &file, None).unwrap();
    let hyper = (0.9, 0.05);
    for (kind, name) in [
        (OptimizerKind::Sgd, "sgd"),
        (OptimizerKind::Adam, "adam"),
        (OptimizerKind::AdamW, "adamw"),
    ] {
        let (foreach, opt) = run_optimizer((kind, Kernels::Foreach), hyper, &init, &grads, &lrs);
        let (single, _) = run_optimizer((kind, Kernels::PerTensor), hyper, &init, &grads, &lrs);
        for (i, (f, s)) in foreach.iter().zip(&single).enumerate() {
            assert!(
                f.equal(s),
                "{name}: param {i}: foreach and per-tensor differ"
            );
            let moved = OPT_PARAMS[i].2;
            assert_eq!(
                !f.equal(&init[i]),
                (0..lrs.len()).any(moved),
                "{name}: param {i}"
            );
        }
        for torch_foreach in ["1", "0"] {
            let out = tmp
                .path()
                .join(format!("{name}-{torch_foreach}.safetensors"));
            let lr_list: Vec<String> = lrs.iter().map(|l| format!("{l:e}")).collect();
            let script = repo().join("crates/trainer/tests/py/optim_ref.py");
            run_python(&[
                script.to_str().unwrap(),
                inp.to_str().unwrap(),
                out.to_str().unwrap(),
                name,
                &hyper.0.to_string(),
                &hyper.1.to_string(),
                &lr_list.join(","),
                torch_foreach,
            ]);
            let want = read_tensors(&out).unwrap();
            for (i, p) in foreach.iter().enumerate() {
                let w = &want[&format!("p.{i}")];
                let ulps = (p - w).abs().max().double_value(&[]);
                assert!(
                    p.equal(w),
                    "{name}: param {i} differs from torch.optim (foreach={torch_foreach}) by {ulps}"
                );
            }
        }
        // State round-trips through export/import.
        let exported = opt.export();
        assert!(!exported.is_empty());
        let (_, mut again) = run_optimizer((kind, Kernels::Foreach), hyper, &init, &[], &[]);
        again.import(exported.into_iter().collect(), &inp).unwrap();
    }
}

#[test]
fn torchvision_resnet18_state_dict_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("resnet18.pth");
    run_python(&[
        repo()
            .join("crates/trainer/tests/py/resnet_state_dict.py")
            .to_str()
            .unwrap(),
        path.to_str().unwrap(),
        "10",
    ]);
    let model = Model::new(Arch::Resnet18, 10, Device::Cpu, Init::Kaiming).unwrap();
    let loaded = pretrained::load(&model, &path, &WeightOptions::default()).unwrap();
    assert_eq!(
        loaded.loaded.len(),
        model.registry.entries.len(),
        "every tensor loads:\n{}",
        loaded.report
    );
    assert_eq!(model.registry.entries.len(), 122);
    let nbt = model.entry("bn1.num_batches_tracked").unwrap();
    assert_eq!(nbt.tensor.int64_value(&[]), 1234);
    // Values arrived: compare a tensor with the file through the weights crate.
    let sd = lrplan_weights::read_file(&path, &Default::default()).unwrap();
    let want = sd.get("layer3.1.conv2.weight").unwrap().to_f32_vec();
    let got = Vec::<f32>::try_from(
        model
            .entry("layer3.1.conv2.weight")
            .unwrap()
            .tensor
            .detach()
            .flatten(0, -1),
    )
    .unwrap();
    assert_eq!(got, want);

    // Another class count: the head is refused for its shape, the rest loads.
    let model5 = Model::new(Arch::Resnet18, 5, Device::Cpu, Init::Kaiming).unwrap();
    let loaded = pretrained::load(&model5, &path, &WeightOptions::default()).unwrap();
    assert_eq!(loaded.loaded.len(), 120);
    assert!(!loaded.loaded.iter().any(|k| k.starts_with("fc.")));
    assert!(loaded.report.contains("fc.weight"), "{}", loaded.report);
}

/// `trainer doctor --check-cuda`'s run and comparison, CPU against CPU (the GPU side needs a
/// GPU): the same bits twice, and a step or tensor off by more than the tolerance refused.
#[test]
fn the_cuda_check_compares_steps_and_tensors() {
    use lrplan_trainer::cuda_check::{STEPS, TOLERANCE, compare, train};
    let a = train(Device::Cpu, STEPS).unwrap();
    let b = train(Device::Cpu, STEPS).unwrap();
    assert_eq!(a.losses.len(), STEPS);
    assert!(a.losses.iter().all(|l| l.is_finite()));
    assert_eq!(a.losses, b.losses);
    let report = compare(&a, &b, "cpu").unwrap();
    assert!(report.contains("CUDA check: ok"), "{report}");
    let mut off = train(Device::Cpu, STEPS).unwrap();
    off.losses[3] *= 1.0 + 2.0 * TOLERANCE;
    let e = compare(&a, &off, "cpu").unwrap_err().to_string();
    assert!(e.contains("step 3"), "{e}");
    let mut off = train(Device::Cpu, STEPS).unwrap();
    off.tensors[0].1 = &off.tensors[0].1 * (1.0 + 2.0 * TOLERANCE);
    let e = compare(&a, &off, "cpu").unwrap_err().to_string();
    assert!(e.contains(&a.tensors[0].0), "{e}");
}
