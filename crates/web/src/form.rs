//! The page's form, written from the field table at start-up, so the page has no list of
//! fields of its own: one fieldset per plan-file table, one labelled input per field (a select
//! for a kind, a checkbox for a flag, a text input otherwise) and the two page switches.
//!
//! Which inputs show is declared, not scripted: `data-when="decay.kind=step"` (every condition
//! must hold, else the input is hidden) comes from the table's `only_when` and from a hiding
//! switch; `data-enable-when` from a switch that only disables. `web/app.js` evaluates them.

use std::fmt::Write;

use lrplan_schedule::fields::{Field, Kind, SECTIONS};

use crate::inputs::{Input, Switch, inputs, switch_of};
use crate::report::escape;

/// The form's inputs, fieldset by fieldset.
pub fn html() -> String {
    let mut h = String::new();
    for section in &SECTIONS {
        let _ = write!(h, "<fieldset><legend>{}</legend>", escape(section.title));
        for input in inputs().filter(|i| section_of(*i) == section.name) {
            match input {
                Input::Field(f) => field(&mut h, f),
                Input::Switch(s) => switch(&mut h, s),
            }
        }
        h.push_str("</fieldset>");
    }
    h
}

fn section_of(input: Input) -> &'static str {
    let name = input.name();
    name.split_once('.').map_or(name, |(s, _)| s)
}

fn field(h: &mut String, f: &Field) {
    let (id, doc) = (f.path, escape(f.doc));
    let mut hidden_unless: Vec<String> = f
        .only_when
        .iter()
        .map(|(p, v)| format!("{p}={v}"))
        .collect();
    let mut enabled_when = String::new();
    if let Some((s, on)) = switch_of(f.path) {
        match s.hides {
            true => hidden_unless.push(format!("{}={on}", s.name)),
            false => enabled_when = format!(" data-enable-when=\"{}={on}\"", s.name),
        }
    }
    let label = format!("<label for=\"{id}\">{}</label>", escape(f.label));
    let control = match f.kind() {
        Kind::Bool => {
            format!(
                "<input type=\"checkbox\" id=\"{id}\" name=\"{id}\" title=\"{doc}\"{enabled_when}>"
            )
        }
        Kind::Choice(names) => {
            let options = names.iter().map(|n| (*n, *n));
            select(id, &doc, options)
        }
        Kind::Float | Kind::Int { .. } => {
            let mode = if f.kind() == Kind::Float {
                "decimal"
            } else {
                "numeric"
            };
            format!(
                "<input id=\"{id}\" name=\"{id}\" inputmode=\"{mode}\" title=\"{doc}\"{enabled_when}>"
            )
        }
    };
    let (class, inner) = match f.kind() {
        Kind::Bool => ("field check wide", format!("{control}{label}")),
        Kind::Choice(_) => ("field wide", format!("{label}{control}")),
        _ => ("field", format!("{label}{control}")),
    };
    wrap(h, class, &hidden_unless, &inner, id);
}

fn switch(h: &mut String, s: &Switch) {
    // A switch shows while the first field it controls may matter.
    let first = s
        .controls
        .first()
        .and_then(|(p, _)| lrplan_schedule::fields::find(p));
    let hidden_unless: Vec<String> = first
        .and_then(|f| f.only_when)
        .map(|(p, v)| format!("{p}={v}"))
        .into_iter()
        .collect();
    let inner = format!(
        "<label for=\"{0}\">{1}</label>{2}<small class=\"hint\" id=\"{0}.hint\"></small>",
        s.name,
        escape(s.label),
        select(s.name, "", s.options.iter().copied())
    );
    wrap(h, "field wide", &hidden_unless, &inner, s.name);
}

fn select<'a>(id: &str, doc: &str, options: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut h = format!("<select id=\"{id}\" name=\"{id}\"");
    if !doc.is_empty() {
        let _ = write!(h, " title=\"{doc}\"");
    }
    h.push('>');
    for (value, text) in options {
        let _ = write!(h, "<option value=\"{value}\">{}</option>", escape(text));
    }
    h.push_str("</select>");
    h
}

/// The input's box, with its error slot (`data-error-for`, filled by the page's script).
fn wrap(h: &mut String, class: &str, hidden_unless: &[String], inner: &str, name: &str) {
    let _ = write!(h, "<div class=\"{class}\"");
    if !hidden_unless.is_empty() {
        let _ = write!(h, " data-when=\"{}\"", hidden_unless.join(" "));
    }
    let _ = write!(
        h,
        ">{inner}<small class=\"error\" data-error-for=\"{name}\"></small></div>"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrplan_schedule::fields::FIELDS;

    #[test]
    fn every_input_has_a_labelled_control_and_an_error_slot() {
        let h = html();
        for input in inputs() {
            let name = input.name();
            assert!(h.contains(&format!("<label for=\"{name}\">")), "{name}");
            assert!(
                h.contains(&format!(" id=\"{name}\" name=\"{name}\"")),
                "{name}"
            );
            assert!(h.contains(&format!("data-error-for=\"{name}\"")), "{name}");
        }
        assert_eq!(h.matches("<fieldset>").count(), SECTIONS.len());
    }

    #[test]
    fn conditions_come_from_the_table_and_the_switches() {
        let h = html();
        assert!(h.contains(
            "<div class=\"field\" data-when=\"decay.kind=step\"><label for=\"decay.step_num\">"
        ));
        assert!(h.contains(
            "data-when=\"updates.per=iteration updates.source=dataset_size\"><label for=\"updates.dataset_size\">"
        ));
        assert!(h.contains("name=\"lr.limit_max\" inputmode=\"decimal\""));
        assert!(h.contains("data-enable-when=\"lr.limits=custom\""));
        assert!(h.contains("<option value=\"adamw\">adamw</option>"));
        let checkboxes = FIELDS.iter().filter(|f| f.kind() == Kind::Bool).count();
        assert_eq!(h.matches("type=\"checkbox\"").count(), checkboxes);
    }
}
