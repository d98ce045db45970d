//! The curve, drawn with plotters on a canvas: the current plan over the pinned one, warm-up
//! and tail shaded, the phase boundary marked, a legend, linear or log lr axis.
//!
//! A per-iteration plan has millions of steps and the canvas about a thousand columns, so each
//! series is drawn from the schedule crate's exact per-column envelope (min and max lr of the
//! steps in each pixel column) rather than from every step: the redraw costs a few evaluations
//! per column whatever the plan's length. The lr holds from one update to the next, so the
//! series is drawn as a staircase.

use lrplan_schedule::Schedule;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, KeyPointWeight, Ranged};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use web_sys::HtmlCanvasElement;

use crate::canvas::Canvas;
use crate::error::WebError;

/// One plan to draw.
pub struct Series<'a> {
    pub schedule: &'a Schedule,
    pub label: &'a str,
    pub color: RGBColor,
}

/// Colours of the current and the pinned plan.
pub const CURRENT: RGBColor = RGBColor(37, 99, 235);
pub const PINNED: RGBColor = RGBColor(234, 88, 12);
const WARMUP: RGBColor = RGBColor(245, 158, 11);
const TAIL: RGBColor = RGBColor(14, 165, 233);
const BOUNDARY: RGBColor = RGBColor(147, 51, 234);
const INK: RGBColor = RGBColor(51, 65, 85);
const GRID: RGBColor = RGBColor(226, 232, 240);

/// Layout in CSS pixels (scaled by the device pixel ratio when drawn).
const MARGIN: f64 = 14.0;
const X_LABELS: f64 = 40.0;
const Y_LABELS: f64 = 70.0;

/// How the last drawing maps canvas pixels to (epoch, lr): what the cursor readout needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Plot area in device pixels.
    x_px: (f64, f64),
    y_px: (f64, f64),
    /// Axis ranges: epochs, and lr (its log10 on a log axis).
    t: (f64, f64),
    lr: (f64, f64),
    log: bool,
    dpr: f64,
}

impl Frame {
    /// The epoch under a CSS-pixel x coordinate, clamped to the plot.
    pub fn t_at(&self, x_css: f64) -> f64 {
        let x = (x_css * self.dpr).clamp(self.x_px.0, self.x_px.1);
        self.t.0 + (x - self.x_px.0) / (self.x_px.1 - self.x_px.0) * (self.t.1 - self.t.0)
    }

    /// CSS-pixel x of an epoch.
    pub fn x_of(&self, t: f64) -> f64 {
        (self.x_px.0 + (t - self.t.0) / (self.t.1 - self.t.0) * (self.x_px.1 - self.x_px.0))
            / self.dpr
    }

    /// CSS-pixel y of a learning rate (pixel position only; the value itself is not changed).
    pub fn y_of(&self, lr: f64) -> f64 {
        let (a, b, v) = (self.lr.0, self.lr.1, axis_y(lr, self.log));
        (self.y_px.1 - (v - a) / (b - a) * (self.y_px.1 - self.y_px.0)) / self.dpr
    }
}

fn chart_err(e: impl std::fmt::Display) -> WebError {
    WebError::Chart(e.to_string())
}

/// Sizes the canvas for sharp HiDPI output and draws. `pinned` is drawn first, underneath.
pub fn draw(
    canvas: &HtmlCanvasElement,
    css_size: (f64, f64),
    dpr: f64,
    current: &Series,
    pinned: Option<&Series>,
    log: bool,
) -> Result<Frame, WebError> {
    let dpr = if dpr.is_finite() && dpr > 0.0 {
        dpr
    } else {
        1.0
    };
    let width = (css_size.0 * dpr).round().max(100.0) as u32;
    let height = (css_size.1 * dpr).round().max(100.0) as u32;
    if canvas.width() != width {
        canvas.set_width(width);
    }
    if canvas.height() != height {
        canvas.set_height(height);
    }
    let backend = Canvas::new(canvas)
        .ok_or_else(|| WebError::Chart("the canvas has no 2d context".into()))?;
    let series: Vec<&Series> = pinned.into_iter().chain([current]).collect();
    let legend_font = legend_font(dpr);
    let legend_width = series
        .iter()
        .map(|s| backend.text_width(s.label, &legend_font))
        .max()
        .unwrap_or(0);
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(chart_err)?;

    // One column per device pixel of the plot area (whose width the fixed layout gives).
    let columns = (width as f64 - (2.0 * MARGIN + Y_LABELS) * dpr).max(10.0) as usize;
    let paths: Vec<Path> = series
        .iter()
        .map(|s| Path::of(s.schedule, columns))
        .collect();
    let t0 = series
        .iter()
        .map(|s| s.schedule.plan().epochs.start as f64)
        .fold(f64::INFINITY, f64::min);
    let t1 = series
        .iter()
        .map(|s| s.schedule.plan().epochs.total as f64)
        .fold(f64::NEG_INFINITY, f64::max);
    let lo = paths.iter().map(|p| p.lo).fold(f64::INFINITY, f64::min);
    let hi = paths.iter().map(|p| p.hi).fold(f64::NEG_INFINITY, f64::max);
    let ctx = Ctx {
        dpr,
        series: &series,
        paths: &paths,
        current: current.schedule,
        t: (t0, t1),
        legend_width,
    };
    plot(&root, &ctx, y_axis(lo, hi, log), log)
}

/// Where an lr sits on the y axis: itself, or its log10 on a log axis. Only a position for
/// drawing; the values shown are always the schedule crate's.
fn axis_y(lr: f64, log: bool) -> f64 {
    if log { lr.log10() } else { lr }
}

/// A y axis: its range (in axis units) and its ticks with their labels. Both scales use one
/// linear coordinate type with explicit ticks, so plotters' chart code is compiled once.
struct Axis {
    range: (f64, f64),
    ticks: Vec<(f64, String)>,
}

fn y_axis(lo: f64, hi: f64, log: bool) -> Axis {
    if log {
        let (a, b) = if lo < hi {
            (lo / 1.6, hi * 1.6)
        } else {
            (lo / 2.0, hi * 2.0)
        };
        let (a, b) = (a.log10(), b.log10());
        let decades = (a.ceil() as i32)..=(b.floor() as i32);
        let mut ticks: Vec<(f64, String)> = Vec::new();
        for e in decades.clone() {
            let mantissas: &[u64] = if decades.clone().count() < 3 {
                &[1, 2, 5]
            } else {
                &[1]
            };
            for &m in mantissas {
                let v = e as f64 + (m as f64).log10();
                if v >= a && v <= b {
                    ticks.push((v, sci(m, e)));
                }
            }
        }
        if ticks.len() < 2 {
            for m in [2, 5] {
                let e = a.floor() as i32;
                let v = e as f64 + (m as f64).log10();
                if v >= a && v <= b {
                    ticks.push((v, sci(m, e)));
                }
            }
        }
        ticks.sort_by(|x, y| x.0.total_cmp(&y.0));
        Axis {
            range: (a, b),
            ticks,
        }
    } else {
        let b = if hi > 0.0 { hi * 1.1 } else { 1.0 };
        let (m, e) = nice_step(b / 6.0);
        let step = m as f64 * 10f64.powi(e);
        let ticks = (0..)
            .map(|i: u64| (i as f64 * step, sci(i * m, e)))
            .take_while(|(v, _)| *v <= b)
            .collect();
        Axis {
            range: (0.0, b),
            ticks,
        }
    }
}

/// A "nice" step (1, 2 or 5 times a power of ten) at least `raw`, as (mantissa, exponent).
fn nice_step(raw: f64) -> (u64, i32) {
    let e = raw.log10().floor() as i32;
    let f = raw / 10f64.powi(e);
    match f {
        f if f <= 1.0 => (1, e),
        f if f <= 2.0 => (2, e),
        f if f <= 5.0 => (5, e),
        _ => (1, e + 1),
    }
}

/// `n * 10^e` written from integers (`25, -4` -> `2.5e-3`), so labels never show float noise.
fn sci(n: u64, e: i32) -> String {
    if n == 0 {
        return "0".into();
    }
    let digits = n.to_string();
    let exp = e + digits.len() as i32 - 1;
    let rest = digits[1..].trim_end_matches('0');
    if rest.is_empty() {
        format!("{}e{exp}", &digits[..1])
    } else {
        format!("{}.{rest}e{exp}", &digits[..1])
    }
}

/// A linear axis with the ticks we chose. Both axes and both lr scales use this one type, so
/// plotters' generic chart code is compiled once (the page downloads it).
#[derive(Clone)]
struct Ticked {
    range: (f64, f64),
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let r = (v - self.range.0) / (self.range.1 - self.range.0);
        limit.0 + (r * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        match hint.weight() {
            KeyPointWeight::Bold => self.ticks.clone(),
            KeyPointWeight::Any => Vec::new(),
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.0..self.range.1
    }
}

/// Epoch ticks: whole epochs, a nice step apart.
fn x_ticks(t0: f64, t1: f64) -> Vec<f64> {
    let (m, e) = nice_step(((t1 - t0) / 10.0).max(1.0));
    let step = (m * 10u64.pow(e.max(0) as u32)) as f64;
    let first = (t0 / step).ceil() * step;
    (0..)
        .map(|i| first + i as f64 * step)
        .take_while(|&t| t <= t1)
        .collect()
}

struct Ctx<'a> {
    dpr: f64,
    series: &'a [&'a Series<'a>],
    paths: &'a [Path],
    current: &'a Schedule,
    t: (f64, f64),
    /// Widest legend label in device pixels, measured before drawing.
    legend_width: u32,
}

fn legend_font(dpr: f64) -> TextStyle<'static> {
    (FontFamily::SansSerif, 12.0 * dpr).into_font().color(&INK)
}

/// The staircase through a schedule's envelope, in (epoch, lr).
struct Path {
    points: Vec<(f64, f64)>,
    lo: f64,
    hi: f64,
}

impl Path {
    fn of(s: &Schedule, columns: usize) -> Path {
        let env = s.envelope(columns);
        let mut points: Vec<(f64, f64)> = Vec::with_capacity(env.len() * 4 + 2);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        let push = |p: (f64, f64), points: &mut Vec<(f64, f64)>| {
            if points.last() != Some(&p) {
                points.push(p);
            }
        };
        let mut exit = None;
        for c in &env {
            let lr_of = |i| s.step(i).map_or(c.lo, |st| st.lr);
            let (entry, last) = (lr_of(c.first), lr_of(c.end - 1));
            let x = c.t_first;
            if let Some(prev) = exit {
                push((x, prev), &mut points);
            }
            // Entry, both extremes, exit: the vertical covers every step of the column.
            for y in [entry, c.hi, c.lo, last] {
                push((x, y), &mut points);
            }
            exit = Some(last);
            lo = lo.min(c.lo);
            hi = hi.max(c.hi);
        }
        if let Some(prev) = exit {
            push((s.plan().epochs.total as f64, prev), &mut points);
        }
        Path { points, lo, hi }
    }
}

fn plot(
    root: &DrawingArea<Canvas, Shift>,
    ctx: &Ctx,
    axis: Axis,
    log: bool,
) -> Result<Frame, WebError> {
    let px = |css: f64| (css * ctx.dpr).round() as u32;
    let font = |size: f64| {
        (FontFamily::SansSerif, size * ctx.dpr)
            .into_font()
            .color(&INK)
    };
    let (t0, t1) = ctx.t;
    let (y0, y1) = axis.range;
    let x = Ticked {
        range: ctx.t,
        ticks: x_ticks(t0, t1),
    };
    let y = Ticked {
        range: axis.range,
        ticks: axis.ticks.iter().map(|t| t.0).collect(),
    };
    let y_label = |v: &f64| {
        let nearest = axis
            .ticks
            .iter()
            .min_by(|a, b| (a.0 - v).abs().total_cmp(&(b.0 - v).abs()));
        nearest.map_or_else(String::new, |t| t.1.clone())
    };
    let mut chart = ChartBuilder::on(root)
        .margin(px(MARGIN))
        .x_label_area_size(px(X_LABELS))
        .y_label_area_size(px(Y_LABELS))
        .build_cartesian_2d(x, y)
        .map_err(chart_err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(if log {
            "learning rate (log)"
        } else {
            "learning rate"
        })
        .label_style(font(12.0))
        .axis_desc_style(font(13.0))
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(INK.stroke_width(1))
        .x_label_formatter(&|v| epoch_label(*v))
        .y_label_formatter(&y_label)
        .draw()
        .map_err(chart_err)?;

    // Warm-up and tail of the current plan, shaded and named at the top of the plot.
    let s = ctx.current;
    let small = font(11.0);
    let mut regions = Vec::new();
    if let Some((w, _)) = s.warmup().filter(|&(w, _)| w > t0) {
        regions.push((t0, w.min(t1), WARMUP, "warm-up"));
    }
    if let Some((_, from)) = s.tail().filter(|&(_, from)| from < t1) {
        regions.push((from.max(t0), t1, TAIL, "tail"));
    }
    for (a, b, color, name) in regions {
        chart
            .draw_series([Rectangle::new([(a, y0), (b, y1)], color.mix(0.14).filled())])
            .map_err(chart_err)?;
        chart
            .draw_series([EmptyElement::at((a, y1))
                + Text::new(name, (px(4.0) as i32, px(4.0) as i32), small.clone())])
            .map_err(chart_err)?;
    }
    if let Some(b) = s.boundary_epoch().map(f64::from) {
        chart
            .draw_series([PathElement::new(
                vec![(b, y0), (b, y1)],
                BOUNDARY.stroke_width(px(1.5).max(1)),
            )])
            .map_err(chart_err)?;
        chart
            .draw_series([EmptyElement::at((b, y1))
                + Text::new(
                    format!("unfreeze · epoch {b}"),
                    (px(5.0) as i32, px(18.0) as i32),
                    font(11.0).color(&BOUNDARY),
                )])
            .map_err(chart_err)?;
    }

    let line = px(2.0).max(1);
    for (series, path) in ctx.series.iter().zip(ctx.paths) {
        let color = series.color;
        chart
            .draw_series([PathElement::new(
                path.points
                    .iter()
                    .map(|&(t, lr)| (t, axis_y(lr, log)))
                    .collect::<Vec<_>>(),
                color.stroke_width(line),
            )])
            .map_err(chart_err)?;
    }

    // The legend, lower left (schedules decay, so that corner is the emptiest; the top carries
    // the region and boundary labels). Drawn by hand: plotters' own legend measures its text
    // through the page's layout, which is slow.
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let row = px(20.0) as i32;
    let pad = px(8.0) as i32;
    let sample = px(18.0) as i32;
    let x0 = xr.start + px(12.0) as i32;
    let y1 = yr.end - px(12.0) as i32;
    let y0 = y1 - row * ctx.series.len() as i32 - pad;
    let x1 = x0 + pad * 3 + sample + ctx.legend_width as i32;
    root.draw(&Rectangle::new(
        [(x0, y0), (x1, y1)],
        WHITE.mix(0.92).filled(),
    ))
    .map_err(chart_err)?;
    root.draw(&Rectangle::new([(x0, y0), (x1, y1)], GRID.stroke_width(1)))
        .map_err(chart_err)?;
    let label_style = legend_font(ctx.dpr).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, series) in ctx.series.iter().enumerate() {
        let y = y0 + pad / 2 + row * i as i32 + row / 2;
        root.draw(&PathElement::new(
            vec![(x0 + pad, y), (x0 + pad + sample, y)],
            series.color.stroke_width(line),
        ))
        .map_err(chart_err)?;
        root.draw(&Text::new(
            series.label,
            (x0 + pad * 2 + sample, y),
            label_style.clone(),
        ))
        .map_err(chart_err)?;
    }
    root.present().map_err(chart_err)?;

    Ok(Frame {
        x_px: (xr.start as f64, (xr.end - 1) as f64),
        y_px: (yr.start as f64, (yr.end - 1) as f64),
        t: ctx.t,
        lr: axis.range,
        log,
        dpr: ctx.dpr,
    })
}

/// Tick labels on the epoch axis: the ticks are whole epochs.
fn epoch_label(v: f64) -> String {
    format!("{}", v.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_integers() {
        assert_eq!(sci(25, -4), "2.5e-3");
        assert_eq!(sci(2, -3), "2e-3");
        assert_eq!(sci(10, -3), "1e-2");
        assert_eq!(sci(0, -3), "0");
        assert_eq!(nice_step(0.0017), (2, -3));
        assert_eq!(
            x_ticks(0.0, 300.0),
            (0..=6).map(|i| i as f64 * 50.0).collect::<Vec<_>>()
        );
        assert_eq!(epoch_label(50.0), "50");
    }

    #[test]
    fn log_axis_has_ticks() {
        let axis = y_axis(1e-4, 1e-2, true);
        let labels: Vec<_> = axis.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["1e-4", "1e-3", "1e-2"]);
    }
}
