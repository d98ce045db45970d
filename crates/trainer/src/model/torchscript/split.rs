//! Which tensors of a TorchScript model are the backbone (held still by the freeze phase,
//! group 0 with `--group-by subnet`) and which the head, and what that means for each
//! module's train/eval flag during the freeze phase.
//!
//! The user names one side by tensor-name prefixes (`--freeze-prefix` the backbone, or
//! `--head-prefix` the head); by default the head is the module holding the model's last
//! parameter (`fc` in a ResNet, `classifier.6` in a VGG, `heads.head` in a ViT) — the layer
//! a fine-tune replaces.

use crate::error::{Error, Result};
use crate::shim::{ModuleInfo, ScriptModule};

/// How the user split the model (`--freeze-prefix` / `--head-prefix` / neither).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Split {
    /// The head is the module holding the last parameter.
    #[default]
    Default,
    /// Tensors whose names start with one of these are the backbone.
    Freeze(Vec<String>),
    /// Tensors whose names start with one of these are the head.
    Head(Vec<String>),
}

/// The split, resolved against a model's tensors.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Per tensor (state-dict order): whether it is in the backbone.
    pub backbone: Vec<bool>,
    /// Per module (`named_modules()` order): its `training` flag in the freeze phase.
    pub freeze_training: Vec<bool>,
    /// One line for the user: what is frozen and why.
    pub description: String,
}

impl Split {
    /// Resolves the split for `m`, refusing a prefix that matches no tensor, a split that
    /// leaves either side without parameters, and one that cuts through a module.
    pub fn resolve(&self, m: &ScriptModule) -> Result<Resolved> {
        let names: Vec<String> = (0..m.tensors().len()).map(|i| m.tensor_name(i)).collect();
        let starts = |prefixes: &[String], n: &str| prefixes.iter().any(|p| n.starts_with(p));
        let (flag, backbone, description): (_, Vec<bool>, _) = match self {
            Split::Freeze(ps) => {
                check_prefixes("--freeze-prefix", ps, &names)?;
                let b = names.iter().map(|n| starts(ps, n)).collect();
                (
                    "--freeze-prefix",
                    b,
                    format!("backbone = --freeze-prefix {}", ps.join(", ")),
                )
            }
            Split::Head(ps) => {
                check_prefixes("--head-prefix", ps, &names)?;
                let b = names.iter().map(|n| !starts(ps, n)).collect();
                (
                    "--head-prefix",
                    b,
                    format!("head = --head-prefix {}", ps.join(", ")),
                )
            }
            Split::Default => {
                let head = default_head(m, &names)?;
                let b = names.iter().map(|n| !n.starts_with(&head)).collect();
                let d = format!(
                    "head = {head}* (default: the module holding the last parameter; \
                     choose with --freeze-prefix or --head-prefix), backbone = the rest"
                );
                ("--freeze-prefix", b, d)
            }
        };
        if *self != Split::Default {
            check_sides(flag, m, &backbone)?;
        }
        check_whole_modules(flag, m, &names, &backbone)?;
        Ok(Resolved {
            freeze_training: freeze_training(m, &backbone),
            backbone,
            description,
        })
    }
}

fn check_prefixes(flag: &'static str, prefixes: &[String], names: &[String]) -> Result<()> {
    for p in prefixes {
        if !names.iter().any(|n| n.starts_with(p.as_str())) {
            let examples: Vec<&str> = names.iter().take(4).map(String::as_str).collect();
            return Err(Error::flag(
                flag,
                format!(
                    "{p:?} matches no tensor of the model (its names look like {})",
                    examples.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// `module.` of the module holding the last parameter (the last parameter's own name when
/// the root holds it).
fn default_head(m: &ScriptModule, names: &[String]) -> Result<String> {
    let last = (0..names.len())
        .rev()
        .find(|&i| m.tensors()[i].parameter)
        .ok_or_else(|| Error::flag("--model", "the model has no parameters"))?;
    Ok(match m.modules()[m.tensors()[last].module].name.as_str() {
        "" => names[last].clone(),
        module => format!("{module}."),
    })
}

/// A split the user gave must leave a parameter on both sides: a frozen model trains nothing,
/// and an empty backbone means the prefixes name something else than the user meant. (The
/// default split always has a head; a model that is all head has nothing to freeze, which
/// matters to no one.)
fn check_sides(flag: &'static str, m: &ScriptModule, backbone: &[bool]) -> Result<()> {
    let count = |side: bool| {
        m.tensors()
            .iter()
            .zip(backbone)
            .filter(|(t, b)| t.parameter && **b == side)
            .count()
    };
    if count(false) == 0 {
        return Err(Error::flag(
            flag,
            "puts every parameter in the backbone: the head, which trains in the freeze \
             phase, would have none",
        ));
    }
    if count(true) == 0 {
        return Err(Error::flag(
            flag,
            "puts every parameter in the head: there would be nothing to freeze",
        ));
    }
    Ok(())
}

/// A module is frozen whole or not at all: its running statistics follow its train/eval
/// flag, which cannot be half set.
fn check_whole_modules(
    flag: &'static str,
    m: &ScriptModule,
    names: &[String],
    backbone: &[bool],
) -> Result<()> {
    for (j, module) in m.modules().iter().enumerate() {
        let own: Vec<usize> = (0..names.len())
            .filter(|&i| m.tensors()[i].module == j)
            .collect();
        let frozen = own.iter().find(|&&i| backbone[i]);
        let trained = own.iter().find(|&&i| !backbone[i]);
        if let (Some(&f), Some(&t)) = (frozen, trained) {
            return Err(Error::flag(
                flag,
                format!(
                    "splits module {:?} ({} frozen, {} not): a prefix must take a module's \
                     tensors all or none",
                    module.name, names[f], names[t]
                ),
            ));
        }
    }
    Ok(())
}

/// In the freeze phase a module runs in eval mode when every tensor under it is frozen (so
/// its running statistics stay put and its dropout is off, as the built-in models' backbone
/// runs); a module without tensors (ReLU, Dropout, a pooling) follows its parent.
fn freeze_training(m: &ScriptModule, backbone: &[bool]) -> Vec<bool> {
    let modules = m.modules();
    let mut flags: Vec<bool> = Vec::with_capacity(modules.len());
    for (j, module) in modules.iter().enumerate() {
        let under = |i: &usize| {
            let owner = &modules[m.tensors()[*i].module].name;
            module.name.is_empty()
                || owner == &module.name
                || owner.starts_with(&format!("{}.", module.name))
        };
        let mut mine = (0..backbone.len()).filter(under).peekable();
        let flag = if mine.peek().is_some() {
            !mine.all(|i| backbone[i])
        } else {
            parent(modules, j).is_none_or(|p| flags[p])
        };
        flags.push(flag);
    }
    flags
}

/// The index of module `j`'s parent: named_modules() is pre-order, so it comes earlier.
fn parent(modules: &[ModuleInfo], j: usize) -> Option<usize> {
    let name = &modules[j].name;
    if name.is_empty() {
        return None;
    }
    let parent = name.rsplit_once('.').map_or("", |(p, _)| p);
    modules[..j].iter().rposition(|m| m.name == parent)
}
