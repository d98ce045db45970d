//! `trainer bench-data`: images per second through the input pipeline alone, as a training
//! run drives it (the loader's batches turned into the `[n, 3, size, size]` tensor by
//! [`crate::learner::to_device`]), for `scripts/bench-data.sh` to hold against torchvision's
//! `ImageFolder` + `DataLoader`.
//!
//! Listing and the header check (or, for a split kept in memory, the decoding) happen once
//! before the timed passes, as torchvision's `ImageFolder` lists before its `DataLoader`
//! runs; each pass is then timed from the loader's start to the last batch tensor.

use std::sync::Arc;
use std::time::Instant;

use tch::Device;

use super::{Dataset, LoaderSpec, Normalize, Transforms, list_split, spawn_loader};
use crate::cli::BenchDataArgs;
use crate::error::{Error, Result};

/// One timed pass.
#[derive(Debug, Clone, Copy)]
pub struct Pass {
    pub images: usize,
    pub seconds: f64,
}

impl Pass {
    pub fn per_second(&self) -> f64 {
        self.images as f64 / self.seconds.max(1e-9)
    }
}

/// Loads the split `args` names, then times `args.epochs` passes over it; prints as it goes.
pub fn run(args: &BenchDataArgs) -> Result<Vec<Pass>> {
    if args.batch_size == 0 || args.epochs == 0 {
        return Err(Error::flag("--batch-size/--epochs", "must be at least 1"));
    }
    let transforms = Transforms {
        style: args.augment,
        flip: true,
        normalize: Normalize::IMAGENET,
    };
    let train = args.split == "train";
    let transform = if train {
        transforms.train(args.image_size)
    } else {
        transforms.eval(args.image_size)
    };
    let started = Instant::now();
    let data = match (args.synthetic, &args.data) {
        (Some(n), _) => Dataset::synthetic(n, transform, 0),
        (None, Some(dir)) => Dataset::load(list_split(dir, &args.split, None)?, transform, false)?,
        (None, None) => {
            return Err(Error::flag(
                "--data",
                "is required unless --synthetic is given",
            ));
        }
    };
    let kept = matches!(data.images, super::Images::Memory(_));
    println!(
        "{} {} images, {} transform, {}: loaded in {:.2}s",
        data.len(),
        args.split,
        format!("{:?}", args.augment).to_lowercase(),
        if kept {
            "kept in memory"
        } else {
            "decoded per batch"
        },
        started.elapsed().as_secs_f64()
    );
    let data = Arc::new(data);
    let mut passes = Vec::new();
    for epoch in 0..args.epochs {
        let pass = time_pass(&data, args, train, epoch)?;
        println!(
            "pass {}: {} images in {:.3}s: {:.1} images/s",
            epoch + 1,
            pass.images,
            pass.seconds,
            pass.per_second()
        );
        passes.push(pass);
    }
    let best = passes.iter().map(Pass::per_second).fold(0.0, f64::max);
    println!("images/s: {best:.1} (best of {} passes)", passes.len());
    Ok(passes)
}

fn time_pass(data: &Arc<Dataset>, args: &BenchDataArgs, train: bool, epoch: u32) -> Result<Pass> {
    let spec = LoaderSpec {
        batch_size: args.batch_size,
        drop_last: false,
        train,
        seed: 0,
        epoch,
        first_batch: 0,
        pinned: false,
    };
    let started = Instant::now();
    let mut images = 0;
    for batch in spawn_loader(data.clone(), spec) {
        let batch = batch?;
        if !args.batches_only {
            let (x, _) = crate::learner::to_device(&batch, Device::Cpu)?;
            debug_assert_eq!(x.size()[0] as usize, batch.labels.len());
        }
        images += batch.labels.len();
    }
    Ok(Pass {
        images,
        seconds: started.elapsed().as_secs_f64(),
    })
}
