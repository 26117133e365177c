//! Numbers as people read them, for every report and message: durations
//! in µs as "0.4 ms" or "1.2 s", counts with thousands separators.

/// A duration in µs as people read it: 0.4 ms, 41 ms, 1.2 s.
pub fn micros(us: u64) -> String {
    match us {
        us if us >= 1_000_000 => format!("{:.1} s", us as f64 / 1e6),
        us if us >= 10_000 => format!("{:.0} ms", us as f64 / 1e3),
        us => format!("{:.1} ms", us as f64 / 1e3),
    }
}

/// Whole numbers with thousands separators: 1,234,567 or -1,234.
pub fn grouped(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A rate or other non-negative figure rounded to a whole number, grouped:
/// 1,234 for 1234.4.
pub fn grouped_f64(n: f64) -> String {
    grouped(n.max(0.0).round() as i64)
}
