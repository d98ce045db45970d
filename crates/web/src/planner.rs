//! The planner's state behind the page: the form, the last valid schedule, the pinned plan and
//! the view, with the methods the page's script calls.

use lrplan_schedule::{Limits, OptimizerKind, Plan, PlanError, Schedule, Violation};
use wasm_bindgen::prelude::*;
use web_sys::HtmlCanvasElement;

use crate::chart::{self, Frame, Series};
use crate::compare::{self, Pinned};
use crate::error::WebError;
use crate::export::CsvPieces;
use crate::inputs::Form;
use crate::{FieldValue, export, fields_of, report};

/// A field the page should mark, with the message to show next to it.
#[wasm_bindgen(getter_with_clone)]
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMessage {
    /// Plan-file path of the input (`lr.init`).
    pub field: String,
    pub message: String,
}

/// One step as the page and the tests see it. Indices are `f64` (exact up to 2^53; the
/// schedule crate caps a run at 2^40 steps) so JavaScript gets plain numbers.
#[wasm_bindgen(getter_with_clone)]
#[derive(Debug, Clone, PartialEq)]
pub struct StepView {
    pub index: f64,
    pub epoch: u32,
    pub iteration: f64,
    pub phase: String,
    pub batch_size: u32,
    pub t: f64,
    pub lr: f64,
}

/// What the cursor points at: the step in force at that epoch, and where to put the marker.
#[wasm_bindgen(getter_with_clone)]
#[derive(Debug, Clone, PartialEq)]
pub struct Readout {
    pub step: StepView,
    /// "epoch 12, iteration 340 · lr 8.1e-3", formatted by Rust.
    pub text: String,
    /// Marker position in CSS pixels inside the canvas.
    pub x: f64,
    pub y: f64,
}

/// The planner's state: the form, the last valid schedule, the pinned plan, the view options.
#[wasm_bindgen]
pub struct Planner {
    form: Form,
    /// The last valid schedule: kept while the form is invalid so the curve stays on screen.
    current: Schedule,
    label: String,
    errors: Vec<FieldMessage>,
    pinned: Option<Pinned>,
    log: bool,
    frame: Option<Frame>,
}

impl Default for Planner {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl Planner {
    /// A planner showing the default plan.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Planner {
        let plan = Plan::default();
        let current = Schedule::new(&plan).expect("the default plan is valid");
        Planner {
            form: Form::of(&plan),
            current,
            label: format!("current: {}", compare::describe(&plan)),
            errors: Vec::new(),
            pinned: None,
            log: false,
            frame: None,
        }
    }

    /// The form's values (after loading a plan file or a link), in page order.
    pub fn fields(&self) -> Vec<FieldValue> {
        fields_of(&self.form)
    }

    /// Takes the form's values (parallel arrays of names and values) and recompiles. Returns
    /// whether the plan is valid; when it is not, [`Planner::errors`] says why and the last
    /// valid schedule stays in use.
    pub fn set_fields(&mut self, names: Vec<String>, values: Vec<String>) -> bool {
        for (name, value) in names.iter().zip(&values) {
            self.form.set(name, value);
        }
        self.recompile()
    }

    /// Loads a link's hash, percent-encoded (`#lr.init=0.02&decay.kind=step`); returns what
    /// `Form::from_hash` refused, `; `-separated ("" for nothing).
    pub fn load_hash(&mut self, hash: &str) -> String {
        let (form, refused) = Form::from_hash(hash);
        self.form = form;
        self.recompile();
        refused.join("; ")
    }

    /// Loads a plan file. A file the trainer would refuse is refused with the schedule crate's
    /// message and the form is left unchanged.
    pub fn load_plan_file(&mut self, text: &str) -> Result<(), JsValue> {
        self.form = export::import(text.as_bytes())?;
        self.recompile();
        Ok(())
    }

    /// Whether the form currently holds a valid plan.
    pub fn valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// Why the form is invalid, one message per broken rule, addressed by field.
    pub fn errors(&self) -> Vec<FieldMessage> {
        self.errors.clone()
    }

    /// The hash that reproduces the form.
    pub fn hash(&self) -> String {
        self.form.to_hash()
    }

    /// The optimizer's default clamp limits `[max, min]`, shown while limits are "auto".
    pub fn default_limits(kind: &str) -> Vec<String> {
        let Limits { max, min } =
            Limits::default_for(OptimizerKind::from_name(kind).unwrap_or_default());
        vec![max.to_string(), min.to_string()]
    }

    pub fn summary_html(&self) -> String {
        report::summary_html(&self.current)
    }

    /// Rows in the per-epoch table.
    pub fn table_len(&self) -> u32 {
        report::table_len(&self.current)
    }

    /// Rows `first..first + count` of the per-epoch table, as HTML `<tr>`s.
    pub fn table_rows_html(&self, first: u32, count: u32) -> String {
        report::table_rows_html(&self.current, first, count)
    }

    /// The plan file of the current valid plan (`plan_file::to_toml`).
    pub fn plan_toml(&self) -> String {
        export::plan_toml(&self.current)
    }

    /// Every step as CSV in pieces, byte for byte what `lrplan --format csv` prints; refused
    /// with its size above `export::CSV_MAX_BYTES`.
    pub fn table_csv(&self) -> Result<CsvPieces, JsValue> {
        Ok(CsvPieces::new(&self.current, export::CSV_PIECE_ROWS)?)
    }

    pub fn plan_file_name() -> String {
        export::PLAN_FILE_NAME.into()
    }

    pub fn table_file_name() -> String {
        export::TABLE_FILE_NAME.into()
    }

    /// Switches the lr axis between linear and logarithmic.
    pub fn set_log(&mut self, log: bool) {
        self.log = log;
    }

    /// Pins the current plan for comparison; returns its legend label.
    pub fn pin(&mut self) -> String {
        let pinned = Pinned::new(self.current.clone());
        let label = pinned.label.clone();
        self.pinned = Some(pinned);
        label
    }

    pub fn unpin(&mut self) {
        self.pinned = None;
    }

    pub fn pinned_label(&self) -> Option<String> {
        self.pinned.as_ref().map(|p| p.label.clone())
    }

    /// Draws the chart at the canvas's CSS size times the device pixel ratio.
    pub fn draw(
        &mut self,
        canvas: &HtmlCanvasElement,
        css_width: f64,
        css_height: f64,
        dpr: f64,
    ) -> Result<(), JsValue> {
        let current = Series {
            schedule: &self.current,
            label: &self.label,
            color: chart::CURRENT,
        };
        let pinned = self.pinned.as_ref().map(|p| Series {
            schedule: &p.schedule,
            label: &p.label,
            color: chart::PINNED,
        });
        let frame = chart::draw(
            canvas,
            (css_width, css_height),
            dpr,
            &current,
            pinned.as_ref(),
            self.log,
        )?;
        self.frame = Some(frame);
        Ok(())
    }

    /// The step in force under the cursor (x in CSS pixels of the canvas), found with
    /// `first_step_at_or_after`; `None` before the first drawing.
    pub fn readout(&self, x_css: f64) -> Option<Readout> {
        let frame = self.frame?;
        let s = &self.current;
        let t = frame.t_at(x_css);
        let after = s.first_step_at_or_after(t);
        // The step in force at `t` is the last one that starts at or before it.
        let index = match s.step(after) {
            Some(step) if step.t <= t => after,
            _ => after.saturating_sub(1),
        };
        let step = s.step(index)?;
        let text = if s.per_iteration() {
            format!(
                "epoch {}, iteration {} · {} · lr {:e}",
                step.epoch,
                step.iteration,
                step.phase.name(),
                step.lr
            )
        } else {
            format!(
                "epoch {} · {} · lr {:e}",
                step.epoch,
                step.phase.name(),
                step.lr
            )
        };
        Some(Readout {
            x: frame.x_of(step.t),
            y: frame.y_of(step.lr),
            step: view(&step),
            text,
        })
    }

    /// The lr of `(epoch, iteration)` (`Schedule::lr`).
    pub fn lr(&self, epoch: u32, iteration: u32) -> f64 {
        self.current.lr(epoch, iteration as u64)
    }

    /// Step `index` of the run (`Schedule::step`).
    pub fn step(&self, index: f64) -> Option<StepView> {
        self.current.step(index as u64).as_ref().map(view)
    }

    pub fn total_steps(&self) -> f64 {
        self.current.total_steps() as f64
    }

    /// The fitted rates, `[init, min]` per phase in order.
    pub fn fits(&self) -> Vec<f64> {
        self.current
            .phases()
            .flat_map(|p| [p.fit.init, p.fit.min])
            .collect()
    }

    /// The envelope the chart draws, flattened `[first, end, lo, hi]` per column.
    pub fn envelope(&self, columns: u32) -> Vec<f64> {
        self.current
            .envelope(columns as usize)
            .iter()
            .flat_map(|c| [c.first as f64, c.end as f64, c.lo, c.hi])
            .collect()
    }
}

impl Planner {
    /// Reads the form; a valid plan replaces the schedule, an invalid one only sets errors.
    fn recompile(&mut self) -> bool {
        let result = self
            .form
            .to_plan()
            .and_then(|plan| Schedule::new(&plan).map_err(|e| vec![e.into()]));
        match result {
            Ok(schedule) => {
                self.label = format!("current: {}", compare::describe(schedule.plan()));
                self.current = schedule;
                self.errors.clear();
                true
            }
            Err(errors) => {
                let form = &self.form;
                self.errors = errors.iter().flat_map(|e| messages(e, form)).collect();
                false
            }
        }
    }
}

/// Field messages for one error: a schedule-crate violation keeps its own wording, and is
/// shown next to the input that can fix it ([`placed`]).
fn messages(e: &WebError, form: &Form) -> Vec<FieldMessage> {
    match e {
        WebError::Field { field, message } => vec![FieldMessage {
            field: (*field).into(),
            message: message.clone(),
        }],
        WebError::Plan(PlanError::Invalid(violations)) => {
            violations.iter().map(|v| placed(v, form)).collect()
        }
        other => vec![FieldMessage {
            field: String::new(),
            message: other.to_string(),
        }],
    }
}

/// A violation as a field message, addressed to the input that can fix it. That is the
/// violation's own field, with one exception: per-iteration updates without an iteration count
/// are filed by the schedule crate under `updates.iters_per_epoch` ("or updates.dataset_size is
/// needed for per-iteration updates"). With the page's `updates.source` switch on the dataset
/// size, that input is hidden and the empty one is `updates.dataset_size`, so the message goes
/// there ("is needed for per-iteration updates"), which also puts it under the right name in the
/// problem list.
fn placed(v: &Violation, form: &Form) -> FieldMessage {
    if v.field == "updates.iters_per_epoch" && form.get("updates.source") == "dataset_size" {
        if let Some(rule) = v.rule.strip_prefix("or updates.dataset_size ") {
            return FieldMessage {
                field: "updates.dataset_size".into(),
                message: format!("{rule} (got nothing)"),
            };
        }
    }
    FieldMessage {
        field: v.field.into(),
        message: format!("{} (got {})", v.rule, v.value),
    }
}

fn view(s: &lrplan_schedule::Step) -> StepView {
    StepView {
        index: s.index as f64,
        epoch: s.epoch,
        iteration: s.iteration as f64,
        phase: s.phase.name().into(),
        batch_size: s.batch_size,
        t: s.t,
        lr: s.lr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_after(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut planner = Planner::new();
        let (names, values) = fields
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .unzip();
        assert!(!planner.set_fields(names, values));
        planner
            .errors()
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    }

    #[test]
    fn a_missing_dataset_size_is_shown_at_the_dataset_size_input() {
        let errors = errors_after(&[
            ("updates.per", "iteration"),
            ("updates.source", "dataset_size"),
            ("updates.dataset_size", ""),
        ]);
        assert_eq!(
            errors,
            [(
                "updates.dataset_size".to_string(),
                "is needed for per-iteration updates (got nothing)".to_string()
            )]
        );
    }

    #[test]
    fn a_missing_iteration_count_stays_at_its_own_input() {
        let errors = errors_after(&[
            ("updates.per", "iteration"),
            ("updates.source", "iters_per_epoch"),
            ("updates.iters_per_epoch", ""),
        ]);
        assert_eq!(
            errors,
            [(
                "updates.iters_per_epoch".to_string(),
                "or updates.dataset_size is needed for per-iteration updates (got neither)"
                    .to_string()
            )]
        );
    }

    #[test]
    fn plan_files_are_read_by_the_schedule_crates_reader() {
        let mut planner = Planner::new();
        planner
            .load_plan_file("[decay]\nkind = \"step\"\n")
            .unwrap();
        assert!(planner.valid());
        assert!(
            planner
                .fields()
                .iter()
                .any(|f| f.name == "decay.kind" && f.value == "step")
        );
        let err = export::import(b"[decay]\nkind = \"cosine\"\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "plan file: line 2: decay.kind must be one of cos, step, linear, constant (got \"cosine\")"
        );
    }
}
