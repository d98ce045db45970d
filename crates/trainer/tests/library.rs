//! Library-level tests: parameter groups, optimizer parity with torch.optim, loading a
//! torchvision-named ResNet-18 state dict.

mod common;

use common::*;
use lrplan_schedule::OptimizerKind;
use lrplan_trainer::checkpoint::write_tensors_synced;
use lrplan_trainer::groups::{self, GroupBy};
use lrplan_trainer::model::{Arch, Builtin as Model, Init, Network};
use lrplan_trainer::optim::Optimizer;
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

#[test]
fn optimizers_match_torch_optim() {
    let tmp = tempfile::tempdir().unwrap();
    tch::manual_seed(7);
    let shapes: [&[i64]; 4] = [&[4, 3, 3, 3], &[4], &[10, 4], &[10]];
    let decays = [true, false, true, false];
    let lrs = [0.1, 0.05, 0.02, 0.07, 0.01];
    let init: Vec<Tensor> = shapes
        .iter()
        .map(|s| Tensor::randn(*s, (Kind::Float, Device::Cpu)))
        .collect();
    let grads: Vec<Vec<Tensor>> = lrs
        .iter()
        .map(|_| {
            shapes
                .iter()
                .map(|s| Tensor::randn(*s, (Kind::Float, Device::Cpu)))
                .collect()
        })
        .collect();
    let mut file = Vec::new();
    for (i, p) in init.iter().enumerate() {
        file.push((format!("p.{i}"), p.shallow_clone()));
        file.push((
            format!("d.{i}"),
            Tensor::from(if decays[i] { 1f32 } else { 0f32 }),
        ));
        for (k, g) in grads.iter().enumerate() {
            file.push((format!("g.{k}.{i}"), g[i].shallow_clone()));
        }
    }
    let inp = tmp.path().join("in.safetensors");
    write_tensors_synced(&inp, &file, None).unwrap();
    for (kind, name) in [
        (OptimizerKind::Sgd, "sgd"),
        (OptimizerKind::Adam, "adam"),
        (OptimizerKind::AdamW, "adamw"),
    ] {
        let (momentum, wd) = (0.9, 0.05);
        let params: Vec<Tensor> = init
            .iter()
            .map(|p| p.copy().set_requires_grad(true))
            .collect();
        let group = |d: bool| {
            params
                .iter()
                .enumerate()
                .filter(|(i, _)| decays[*i] == d)
                .map(|(i, p)| (format!("p{i}"), p.shallow_clone(), d))
                .collect::<Vec<_>>()
        };
        let mut opt = Optimizer::new(
            kind,
            momentum,
            wd,
            vec![(1.0, group(false)), (1.0, group(true))],
        );
        for (k, &lr) in lrs.iter().enumerate() {
            opt.set_lr(lr);
            opt.zero_grad();
            // d/dp sum(p * g) = g exactly.
            let loss = params
                .iter()
                .zip(&grads[k])
                .map(|(p, g)| (p * g).sum(Kind::Float))
                .fold(Tensor::from(0f32), |a, b| a + b);
            loss.backward();
            opt.step().unwrap();
        }
        let out = tmp.path().join(format!("{name}.safetensors"));
        let lr_list: Vec<String> = lrs.iter().map(|l| format!("{l:e}")).collect();
        run_python(&[
            repo()
                .join("crates/trainer/tests/py/optim_ref.py")
                .to_str()
                .unwrap(),
            inp.to_str().unwrap(),
            out.to_str().unwrap(),
            name,
            &momentum.to_string(),
            &wd.to_string(),
            &lr_list.join(","),
        ]);
        let want = read_tensors(&out).unwrap();
        for (i, p) in params.iter().enumerate() {
            let w = &want[&format!("p.{i}")];
            // Relative to the tensor's scale: without `alpha` arguments in tch, `p + a*b` is
            // two roundings here and one fused one in torch, so elements that end near zero
            // can differ by an ulp of their earlier magnitude.
            let diff = (p.detach() - w).abs().max().double_value(&[]);
            let scale = w.abs().max().double_value(&[]);
            let rel = diff / scale;
            assert!(rel <= 1e-6, "{name}: param {i} differs by {rel} (relative)");
            assert!(
                !p.detach().equal(&init[i]),
                "{name}: param {i} did not move"
            );
        }
        // State round-trips through export/import.
        let exported = opt.export();
        assert!(!exported.is_empty());
        let mut again = Optimizer::new(
            kind,
            momentum,
            wd,
            vec![(1.0, group(false)), (1.0, group(true))],
        );
        again.import(exported.into_iter().collect(), &out).unwrap();
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
