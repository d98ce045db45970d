//! The README's plan-file table is the field table ([`FIELDS`]) written out, so it cannot
//! drift from what the reader takes. On a difference the test fails and shows the table;
//! `LRPLAN_BLESS=1 cargo test -p lrplan-schedule --test readme` writes it into the README.

use lrplan_schedule::fields::{FIELDS, Field, Kind};

const BEGIN: &str = "<!-- plan-fields: begin (generated from crates/schedule/src/fields.rs; \
                     LRPLAN_BLESS=1 cargo test -p lrplan-schedule --test readme) -->\n";
const END: &str = "<!-- plan-fields: end -->\n";

fn kind(f: &Field) -> String {
    let kind = match f.kind() {
        Kind::Float => "number".to_string(),
        Kind::Int { .. } => "whole number".to_string(),
        Kind::Bool => "`true` / `false`".to_string(),
        Kind::Choice(names) => {
            let names: Vec<String> = names.iter().map(|n| format!("`\"{n}\"`")).collect();
            names.join(" / ")
        }
    };
    match f.optional() {
        true => format!("{kind}, optional"),
        false => kind,
    }
}

fn table() -> String {
    let mut out = String::from("| key | type | default | meaning |\n|---|---|---|---|\n");
    for f in &FIELDS {
        let default = f
            .default_value()
            .map_or("absent".to_string(), |v| format!("`{v}`"));
        let doc = f.doc.replace('|', "\\|");
        out.push_str(&format!(
            "| `{}` | {} | {default} | {doc} |\n",
            f.path,
            kind(f)
        ));
    }
    out
}

#[test]
fn the_readme_plan_file_table_is_the_field_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (Some(begin), Some(end)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md has no block between\n{BEGIN}and\n{END}");
    };
    let (start, expected) = (begin + BEGIN.len(), table());
    if readme[start..end] == expected {
        return;
    }
    if std::env::var_os("LRPLAN_BLESS").is_some() {
        let updated = format!("{}{expected}{}", &readme[..start], &readme[end..]);
        std::fs::write(path, updated).unwrap();
        return;
    }
    panic!(
        "README.md's plan-file table differs from crates/schedule/src/fields.rs; it should be:\n\
         {expected}\nLRPLAN_BLESS=1 cargo test -p lrplan-schedule --test readme writes it"
    );
}
