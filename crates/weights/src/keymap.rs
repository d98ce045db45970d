//! Renaming file keys before they are matched against the model's.
//!
//! The same weights travel under different names: `module.` from DataParallel,
//! `_orig_mod.` from torch.compile, `model.` or `backbone.` from whoever wrapped the
//! network. Matching is exact, so the names are mapped first, in a fixed order:
//! strip prefixes, then regex renames, then add a prefix.

use crate::error::Error;
use regex::Regex;

/// How file keys are rewritten before matching.
#[derive(Debug, Clone, Default)]
pub struct KeyMap {
    /// Each one is removed from the start of a key that has it, in this order.
    pub strip_prefixes: Vec<String>,
    /// Prepended to every key after stripping and renaming.
    pub add_prefix: Option<String>,
    /// `(pattern, replacement)`, applied with `replace_all` in order; the replacement may
    /// use `$1` / `${name}` groups.
    pub renames: Vec<(Regex, String)>,
    /// When few keys match and a prefix change would fix that, apply it rather than only
    /// suggesting it.
    pub auto_prefix: bool,
}

impl KeyMap {
    /// Parse `PATTERN=REPLACEMENT` (the first `=` separates them; write a literal `=` in
    /// the pattern as `\x3d`).
    pub fn parse_rename(spec: &str) -> Result<(Regex, String), Error> {
        let option = |reason: String| Error::Option {
            flag: "--rename",
            value: spec.to_string(),
            reason,
        };
        let (pattern, replacement) = spec
            .split_once('=')
            .ok_or_else(|| option("expected PATTERN=REPLACEMENT".into()))?;
        if pattern.is_empty() {
            return Err(option("the pattern is empty".into()));
        }
        let re = Regex::new(pattern).map_err(|e| {
            // The regex crate's message spans several lines; keep the first.
            let first = e.to_string();
            let first = first
                .lines()
                .last()
                .unwrap_or("invalid regex")
                .trim()
                .to_string();
            option(format!("invalid regex: {first}"))
        })?;
        Ok((re, replacement.to_string()))
    }

    /// Add a `PATTERN=REPLACEMENT` rename.
    pub fn with_rename(mut self, spec: &str) -> Result<Self, Error> {
        self.renames.push(Self::parse_rename(spec)?);
        Ok(self)
    }

    /// The key a file key is matched under.
    pub fn apply(&self, key: &str) -> String {
        let mut k = key.to_string();
        for p in &self.strip_prefixes {
            if let Some(rest) = k.strip_prefix(p.as_str()) {
                k = rest.to_string();
            }
        }
        for (re, rep) in &self.renames {
            k = re.replace_all(&k, rep.as_str()).into_owned();
        }
        if let Some(p) = &self.add_prefix {
            k.insert_str(0, p);
        }
        k
    }

    /// Whether the map changes anything at all (for reports).
    pub fn is_identity(&self) -> bool {
        self.strip_prefixes.is_empty() && self.add_prefix.is_none() && self.renames.is_empty()
    }

    /// The steps in words, in the order they are applied.
    pub fn describe(&self) -> Vec<String> {
        let mut steps: Vec<String> = self
            .strip_prefixes
            .iter()
            .map(|p| format!("strip prefix '{p}'"))
            .collect();
        steps.extend(
            self.renames
                .iter()
                .map(|(re, rep)| format!("rename '{}' -> '{rep}'", re.as_str())),
        );
        if let Some(p) = &self.add_prefix {
            steps.push(format!("add prefix '{p}'"));
        }
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_strip_rename_add() {
        let map = KeyMap {
            strip_prefixes: vec!["module.".into(), "_orig_mod.".into()],
            add_prefix: Some("net.".into()),
            ..KeyMap::default()
        }
        .with_rename(r"^fc\.=head.")
        .unwrap();
        assert_eq!(map.apply("module._orig_mod.fc.weight"), "net.head.weight");
        assert_eq!(map.apply("conv.weight"), "net.conv.weight");
    }

    #[test]
    fn rename_groups_and_errors() {
        let map = KeyMap::default()
            .with_rename(r"layer(\d+)\.=blocks.${1}.")
            .unwrap();
        assert_eq!(map.apply("layer3.0.conv.weight"), "blocks.3.0.conv.weight");
        let err = KeyMap::parse_rename("no-equals").unwrap_err().to_string();
        assert!(
            err.contains("--rename") && err.contains("PATTERN=REPLACEMENT"),
            "{err}"
        );
        let err = KeyMap::parse_rename("(=x").unwrap_err().to_string();
        assert!(
            err.contains("invalid regex") && !err.contains('\n'),
            "{err}"
        );
    }
}
