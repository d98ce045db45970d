//! Bytes to text, and byte offsets to the line and column a person reads.

use alloc::format;

use crate::error::PlanError;

const BOM: char = '\u{feff}';

/// The text of a plan file: its bytes as UTF-8. A UTF-8 byte-order mark stays (the parser
/// skips it); a UTF-16 or UTF-32 one is named, because such a file is otherwise only "not
/// UTF-8 at byte 1" to its reader. A control character is refused here, where TOML refuses
/// it anywhere in a file: binary data (a `.pth` zip starts `PK\x03\x04`) would otherwise
/// be quoted by a syntax error, unprintable, into a terminal or the page's status line.
pub(super) fn decode(bytes: &[u8]) -> Result<&str, PlanError> {
    let text = utf8(bytes)?;
    match text.char_indices().find(|(_, c)| is_forbidden_control(*c)) {
        None => Ok(text),
        Some((at, c)) => {
            let (line, column) = position(text, at);
            Err(PlanError::Parse(format!(
                "line {line}, column {column}: control character U+{:04X} is not allowed in \
                 TOML; a plan file is text",
                c as u32
            )))
        }
    }
}

/// TOML 1.0 allows no control character but tab, and newline and carriage return as line
/// ends (a lone carriage return is left to the parser), in strings, comments or anywhere else.
fn is_forbidden_control(c: char) -> bool {
    matches!(c, '\0'..='\x08' | '\x0B' | '\x0C' | '\x0E'..='\x1F' | '\x7F')
}

fn utf8(bytes: &[u8]) -> Result<&str, PlanError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(PlanError::Parse(
            "the file is UTF-16 or UTF-32 (it starts with that byte-order mark); \
             TOML must be UTF-8: save it as UTF-8"
                .into(),
        ));
    }
    core::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        // The prefix is valid UTF-8 by definition of `valid_up_to`.
        let (line, column) = position(core::str::from_utf8(valid).unwrap_or(""), valid.len());
        PlanError::Parse(format!(
            "line {line}, column {column}: byte 0x{:02X} is not UTF-8; TOML must be UTF-8",
            bytes[e.valid_up_to()]
        ))
    })
}

/// The 1-based line and column (in characters, a byte-order mark not counted) of byte
/// `offset` of `text`.
pub(super) fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().filter(|&c| c != BOM).count() + 1;
    (before.matches('\n').count() + 1, column)
}

/// The 1-based line of byte `offset`.
pub(super) fn line(text: &str, offset: usize) -> usize {
    position(text, offset).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "\u{feff}a = 1\r\nβ = \"x\"";
        assert_eq!(position(text, 3), (1, 1));
        assert_eq!(position(text, 4), (1, 2));
        let beta = text.find('β').unwrap();
        assert_eq!(position(text, beta), (2, 1));
        assert_eq!(position(text, beta + 2), (2, 2), "β is one character");
    }

    #[test]
    fn decoding_names_the_encoding_problem() {
        assert_eq!(decode(b"\xEF\xBB\xBFa = 1").unwrap(), "\u{feff}a = 1");
        let e = decode(b"\xFF\xFEa\0").unwrap_err().to_string();
        assert!(e.contains("UTF-16"), "{e}");
        let e = decode(b"[lr]\ninit = 1 # caf\xE9\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "plan file: line 2, column 15: byte 0xE9 is not UTF-8; TOML must be UTF-8"
        );
        let e = decode(b"PK\x03\x04\x14\0archive/data.pkl")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "plan file: line 1, column 3: control character U+0003 is not allowed in TOML; \
             a plan file is text"
        );
        assert!(decode(b"a = 1 # tab\t and CRLF\r\n").is_ok());
        assert!(decode(b"a = \"\x7F\"").is_err());
    }
}
