//! PNG charts of the run, redrawn at the end of every epoch: `lr.png` (lr per logged step,
//! from lr.csv), `loss.png` (train loss and val loss per epoch) and `accuracy.png` (val
//! accuracy per epoch, 0 to 1), each with a title, labelled axes and, where two lines share
//! a chart, a legend.
//!
//! The font (DejaVu Sans Mono, `assets/`, with its licence) is compiled into the binary: a
//! trainer on a bare GPU server has no system fonts to find, and a chart without numbers on
//! its axes cannot be read.

mod text;

use std::path::Path;
use std::sync::{LazyLock, Once};

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::error::{Error, Result};
use crate::log::EpochMetrics;

const SIZE: (u32, u32) = (720, 440);
const FONT: &str = "lrplan-mono";
const FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSansMono.ttf");

/// The font for [`text::Text`]; it is a constant of the build, so a failure to parse it
/// shows in the charts test.
static GLYPHS: LazyLock<Option<ab_glyph::FontRef<'static>>> =
    LazyLock::new(|| ab_glyph::FontRef::try_from_slice(FONT_BYTES).ok());

fn register() {
    static ONCE: Once = Once::new();
    // The font is a constant of the build; a failure here is caught by the charts test.
    ONCE.call_once(|| {
        let _ = register_font(FONT, FontStyle::Normal, FONT_BYTES);
    });
}

/// What one chart shows.
struct Chart<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    /// Fixed y range (accuracy), or None to fit the data.
    y_range: Option<(f64, f64)>,
    /// Formats of the tick labels.
    x_label: fn(&f64) -> String,
    y_label: fn(&f64) -> String,
    series: &'a [Series<'a>],
}

struct Series<'a> {
    name: &'a str,
    points: &'a [(f64, f64)],
    color: RGBColor,
}

/// The data's bounds, widened where they collapse to a point so plotters gets a range.
fn bounds(chart: &Chart) -> (f64, f64, f64, f64) {
    let finite = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in finite {
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
    if let Some((lo, hi)) = chart.y_range {
        return (x0, x1, lo, hi);
    }
    if y1 - y0 < 1e-12 * y1.abs().max(1e-30) {
        y1 = y0 + y0.abs().max(1e-12);
    }
    let pad = (y1 - y0) * 0.05;
    (x0, x1, y0 - pad, y1 + pad)
}

fn draw_chart(path: &Path, chart: &Chart) -> Result<()> {
    register();
    let err = |e: String| Error::Data {
        path: path.to_path_buf(),
        reason: format!("cannot draw chart: {e}"),
    };
    let (x0, x1, y0, y1) = bounds(chart);
    let font = GLYPHS
        .clone()
        .ok_or_else(|| err("the chart font does not parse".into()))?;
    let root = text::Text::new(BitMapBackend::new(path, SIZE), font).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut c = ChartBuilder::on(&root)
        .caption(chart.title, (FONT, 20))
        .margin(14)
        .x_label_area_size(42)
        .y_label_area_size(84)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| err(e.to_string()))?;
    c.configure_mesh()
        .x_desc(chart.x_desc)
        .y_desc(chart.y_desc)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&chart.x_label)
        .y_label_formatter(&chart.y_label)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for s in chart.series {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|p| p.1.is_finite())
            .collect();
        let color = s.color;
        c.draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(s.name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    if chart.series.len() > 1 {
        c.configure_series_labels()
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(e.to_string()))?;
    }
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// Tick labels for steps and epochs: no trailing zeros, no float noise (0.30000000000000004).
fn tick(x: &f64) -> String {
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Epochs are whole: ticks between them stay unlabelled.
fn whole(x: &f64) -> String {
    if x.fract() == 0.0 {
        format!("{x}")
    } else {
        String::new()
    }
}

/// Tick labels for values spanning decades (learning rates, losses near zero).
fn sci(y: &f64) -> String {
    format!("{y:.2e}")
}

fn plain(y: &f64) -> String {
    format!("{y:.3}")
}

/// `(epoch, value)` points with epochs counted from 1, as a person reads them (the progress
/// lines count the same way; the CSV logs count from 0).
fn per_epoch(metrics: &[EpochMetrics], f: fn(&EpochMetrics) -> f64) -> Vec<(f64, f64)> {
    metrics
        .iter()
        .map(|m| (m.epoch as f64 + 1.0, f(m)))
        .collect()
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
    draw_chart(
        &dir.join("lr.png"),
        &Chart {
            title: "learning rate per step",
            x_desc: "optimizer step",
            x_label: tick,
            y_desc: "lr",
            y_range: None,
            y_label: sci,
            series: &[Series {
                name: "lr",
                points: &lr,
                color: BLUE,
            }],
        },
    )?;
    let per_epoch = |f: fn(&EpochMetrics) -> f64| per_epoch(metrics, f);
    let (train, val) = (per_epoch(|m| m.train_loss), per_epoch(|m| m.val_loss));
    draw_chart(
        &dir.join("loss.png"),
        &Chart {
            title: "loss per epoch",
            x_desc: "epoch",
            x_label: whole,
            y_desc: "cross-entropy",
            y_range: None,
            y_label: plain,
            series: &[
                Series {
                    name: "train",
                    points: &train,
                    color: BLUE,
                },
                Series {
                    name: "val",
                    points: &val,
                    color: RED,
                },
            ],
        },
    )?;
    let acc = per_epoch(|m| m.val_acc);
    draw_chart(
        &dir.join("accuracy.png"),
        &Chart {
            title: "validation accuracy per epoch",
            x_desc: "epoch",
            x_label: whole,
            y_desc: "accuracy",
            y_range: Some((0.0, 1.0)),
            y_label: plain,
            series: &[Series {
                name: "val",
                points: &acc,
                color: RGBColor(0, 140, 60),
            }],
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_on_the_charts_count_from_one() {
        let m = EpochMetrics {
            epoch: 0,
            lr: 1e-3,
            train_loss: 1.0,
            val_loss: 2.0,
            val_acc: 0.5,
            seconds: 1.0,
        };
        let later = EpochMetrics { epoch: 4, ..m };
        assert_eq!(
            per_epoch(&[m, later], |m| m.val_acc),
            [(1.0, 0.5), (5.0, 0.5)]
        );
    }
}
