//! PNG charts of the run, redrawn at the end of every epoch: `lr.png` (lr per logged step,
//! from lr.csv), `loss.png` (train loss, blue, and val loss, red, per epoch) and
//! `accuracy.png` (val accuracy per epoch, 0 to 1).
//!
//! Drawn with plotters' bitmap backend and no text at all: plotters needs a font for labels
//! and this binary must not depend on system fonts; the numbers are in the CSV logs.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::log::EpochMetrics;

const SIZE: (u32, u32) = (640, 400);

fn line_chart(path: &Path, series: &[(&[(f64, f64)], RGBColor)]) -> Result<()> {
    let err = |e: String| Error::Data {
        path: path.to_path_buf(),
        reason: format!("cannot draw chart: {e}"),
    };
    let points = series
        .iter()
        .flat_map(|(s, _)| s.iter())
        .filter(|p| p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-12 * y1.abs().max(1e-30) {
        y1 = y0 + y0.abs().max(1e-12);
    }
    let pad = (y1 - y0) * 0.05;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let area = root.margin(12, 12, 12, 12);
    let mut chart = ChartBuilder::on(&area)
        .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
        .map_err(|e| err(e.to_string()))?;
    chart
        .plotting_area()
        .draw(&Rectangle::new(
            [(x0, y0 - pad), (x1, y1 + pad)],
            BLACK.stroke_width(1),
        ))
        .map_err(|e| err(e.to_string()))?;
    for (s, color) in series {
        let pts: Vec<(f64, f64)> = s.iter().copied().filter(|p| p.1.is_finite()).collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?;
    }
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// Redraws the three charts in `dir`. The PNGs are written in place: a chart is a view of
/// the logs, not state a resume depends on.
pub fn draw(dir: &Path, metrics: &[EpochMetrics]) -> Result<()> {
    let lr_csv = dir.join(crate::log::LR);
    let text = std::fs::read_to_string(&lr_csv).map_err(|e| Error::io(&lr_csv, "read", e))?;
    let lr: Vec<(f64, f64)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            let step = f.next()?.parse().ok()?;
            let lr = f.nth(4)?.parse().ok()?;
            Some((step, lr))
        })
        .collect();
    line_chart(&dir.join("lr.png"), &[(&lr, BLUE)])?;
    let e = |f: fn(&EpochMetrics) -> f64| -> Vec<(f64, f64)> {
        metrics.iter().map(|m| (m.epoch as f64, f(m))).collect()
    };
    line_chart(
        &dir.join("loss.png"),
        &[(&e(|m| m.train_loss), BLUE), (&e(|m| m.val_loss), RED)],
    )?;
    let acc = e(|m| m.val_acc);
    line_chart(&dir.join("accuracy.png"), &[(&acc, GREEN)])?;
    Ok(())
}
