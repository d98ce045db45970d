//! The numbers next to the chart: fitted rates per phase and why, warm-up, tail, boundary, step
//! count, and the per-epoch table. Rendered here as HTML so the page's script only inserts it
//! and every value shown is formatted by Rust from the schedule crate's own results (`{:e}`,
//! shortest round-trip, the CLI's and the CSV's format).

use std::fmt::Write;

use lrplan_schedule::Schedule;

/// The facts panel. Ids (`fit-freeze-init`, `total-steps`, ...) let tests read the values.
pub fn summary_html(s: &Schedule) -> String {
    let mut h = String::new();
    h.push_str("<div class=\"phases\">");
    for p in s.phases() {
        let name = p.phase.name();
        let _ = write!(
            h,
            "<section class=\"phase phase-{name}\"><h3>{name} <small>epochs {}–{} · batch {} · \
             {} step(s)/epoch</small></h3><dl><dt>init lr</dt><dd id=\"fit-{name}-init\">{:e}</dd>\
             <dt>min lr</dt><dd id=\"fit-{name}-min\">{:e}</dd></dl><p class=\"why\" \
             id=\"fit-{name}-why\">{}</p></section>",
            p.first_epoch,
            p.end_epoch,
            p.batch_size,
            p.iters_per_epoch,
            p.fit.init,
            p.fit.min,
            escape(&p.fit.to_string()),
        );
    }
    h.push_str("</div><dl class=\"run\">");
    let mut fact = |id: &str, label: &str, value: String| {
        let _ = write!(h, "<dt>{label}</dt><dd id=\"{id}\">{}</dd>", escape(&value));
    };
    fact(
        "warmup",
        "warm-up",
        s.warmup().map_or("none".into(), |(w, from)| {
            format!("{w} epochs, from {from:e}")
        }),
    );
    fact(
        "tail",
        "tail",
        s.tail().map_or("none".into(), |(len, from)| {
            format!("{len} epochs at min lr, from epoch {from}")
        }),
    );
    fact(
        "boundary",
        "phase boundary",
        s.boundary().map_or("none".into(), |(b, before, after)| {
            format!("epoch {b}: {before:e} → {after:e}")
        }),
    );
    fact("total-steps", "total steps", s.total_steps().to_string());
    h.push_str("</dl>");
    h
}

/// Epochs in the per-epoch table (from `epochs.start`).
pub fn table_len(s: &Schedule) -> u32 {
    let e = &s.plan().epochs;
    e.total - e.start
}

/// Rows `first..first + count` of the per-epoch table: the first step (iteration 0) of each
/// epoch. The page shows a window of rows around the scroll position, so the table costs the
/// same for 30 epochs or 100,000.
pub fn table_rows_html(s: &Schedule, first: u32, count: u32) -> String {
    let start = s.plan().epochs.start;
    let from = start.saturating_add(first);
    let end = from.saturating_add(count).min(s.plan().epochs.total);
    let mut h = String::with_capacity(96 * count as usize);
    for epoch in from..end {
        let Some(step) = s.first_step_of_epoch(epoch).and_then(|i| s.step(i)) else {
            continue;
        };
        let _ = write!(
            h,
            "<tr data-epoch=\"{epoch}\"><td>{epoch}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"lr\">{:e}</td></tr>",
            step.phase.name(),
            step.batch_size,
            step.index,
            step.lr
        );
    }
    h
}

/// Minimal HTML escaping for text from messages (which may quote what the user typed).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}
