//! Numbers in messages, summaries and the page's form, written as a person writes them.

use core::fmt;

/// `x` in Rust's shortest round-trip digits (it parses back to the same bits), in plain
/// decimals from 1e-6 to below 1e21 (`0.01`, `300`) and in exponent form outside that
/// (`1e-7`, `1e-320`, `1e308`): JavaScript's rule for printing a number. Rust's `{}` alone
/// writes every digit of the plain decimal (1e-320 is 322 characters, 1e308 is 309), and
/// `{:e}` alone writes `1e-2` for 0.01.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number(pub f64);

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.0;
        if x != 0.0 && x.is_finite() && !(1e-6..1e21).contains(&x.abs()) {
            write!(f, "{x:e}")
        } else {
            write!(f, "{x}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn plain_in_the_middle_exponent_at_the_ends() {
        let shown = [
            0.01, 300.0, 0.0, 1e-6, 1e-7, 1e-320, 1e308, 1e21, 123456.5, -2.5e-9, 5e-324,
        ]
        .map(|x| Number(x).to_string());
        assert_eq!(
            shown,
            [
                "0.01", "300", "0", "0.000001", "1e-7", "1e-320", "1e308", "1e21", "123456.5",
                "-2.5e-9", "5e-324"
            ]
        );
        for s in shown {
            let x: f64 = s.parse().unwrap();
            assert_eq!(Number(x).to_string(), s, "round trip");
        }
    }
}
