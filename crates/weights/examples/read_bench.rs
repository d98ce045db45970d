//! Times `read_file` on one file: `read_bench FILE [RUNS]` prints the median wall time
//! and the median CPU time (user + system, all threads) of one read, in ms.
//!
//! Used by `bench/read_vs_torch.sh` to compare against `torch.load` on the same file. CPU
//! time is reported too because wall time on a busy machine mostly measures the neighbours.

use lrplan_weights::{ReadOptions, read_file};
use std::path::PathBuf;
use std::time::Instant;

/// Process CPU time in ms from /proc/self/stat (Linux), in clock ticks of 10 ms.
fn cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().ok_or("usage: read_bench FILE [RUNS]")?);
    let runs: usize = args.next().map_or(Ok(11), |r| r.parse())?.max(1);
    // Warm-up, so both readers see the file in the page cache.
    let sd = read_file(&path, &ReadOptions::default())?;
    eprintln!(
        "lrplan-weights: {} tensors, {} bytes",
        sd.tensors.len(),
        sd.tensors.iter().map(|(_, t)| t.data.len()).sum::<usize>()
    );
    drop(sd);
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let c = cpu_ms();
        let t = Instant::now();
        let sd = read_file(&path, &ReadOptions::default())?;
        wall.push(t.elapsed().as_secs_f64() * 1e3);
        if let (Some(a), Some(b)) = (c, cpu_ms()) {
            cpu.push(b - a);
        }
        drop(std::hint::black_box(sd));
    }
    // CPU ticks are coarse; the mean over the runs is steadier than the median.
    let cpu = if cpu.is_empty() {
        f64::NAN
    } else {
        cpu.iter().sum::<f64>() / cpu.len() as f64
    };
    println!("{:.2} {:.1}", median(wall), cpu);
    Ok(())
}
