//! `trainer doctor`: what libtorch this binary runs on and what it can reach, the first
//! thing to check on a new machine (a binary that lost libtorch_cuda reports no CUDA here).

use std::fmt::Write;

/// The report as text.
pub fn report() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "tch:            {}", env!("LRPLAN_TCH_VERSION"));
    let _ = writeln!(out, "libtorch:       {}", env!("LRPLAN_LIBTORCH_VERSION"));
    let _ = writeln!(out, "libtorch lib:   {}", env!("LRPLAN_TORCH_LIB"));
    let cuda = tch::Cuda::is_available();
    let count = tch::Cuda::device_count();
    let _ = writeln!(out, "CUDA available: {cuda}");
    let _ = writeln!(out, "CUDA devices:   {count}");
    for i in 0..count {
        let _ = writeln!(out, "  cuda:{i}: {}", device_name(i));
    }
    let cudnn = tch::Cuda::cudnn_is_available();
    let _ = write!(out, "cuDNN:          {cudnn}");
    if cudnn {
        let _ = write!(out, " (version {})", tch::utils::version_cudnn());
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "threads:        {}", tch::get_num_threads());
    let nccl = match crate::shim::nccl_compiled() {
        true => "gloo (CPU), NCCL (CUDA)",
        false => "gloo (CPU); no NCCL: built against a libtorch without CUDA",
    };
    let _ = writeln!(out, "data parallel:  {nccl}");
    let _ = writeln!(out, "CPU malloc:     {}", crate::malloc::describe());
    out
}

/// The device's name. tch 0.24 has no call for it, so ask `nvidia-smi` when present and fall
/// back to the index (with a test allocation saying whether the device is usable).
fn device_name(i: i64) -> String {
    let smi = std::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=name",
            "--format=csv,noheader",
            &format!("--id={i}"),
        ])
        .output();
    if let Ok(o) = smi {
        let name = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if o.status.success() && !name.is_empty() {
            return name;
        }
    }
    match tch::Tensor::f_zeros([1], (tch::Kind::Float, tch::Device::Cuda(i as usize))) {
        Ok(_) => format!("CUDA device {i} (usable; name unknown without nvidia-smi)"),
        Err(e) => format!("CUDA device {i} (cannot allocate: {e})"),
    }
}
