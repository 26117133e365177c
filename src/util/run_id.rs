//! Run identity: the UTC stamp in report folder names and the per-run id in
//! Redis keys.

use std::time::{SystemTime, UNIX_EPOCH};

/// `yyyymmddThhmmssZ` in UTC.
pub fn utc_stamp(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 -> (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `<scenario>-<stamp>-<16 hex>`: unique per run even when many runs of one
/// scenario start in the same second (64 random bits).
pub fn run_id(scenario: &str, stamp: &str) -> String {
    format!("{scenario}-{stamp}-{:016x}", fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn run_ids_carry_64_random_bits() {
        let a = run_id("s", "20261125T000000Z");
        let b = run_id("s", "20261125T000000Z");
        assert_ne!(a, b);
        let suffix = a.rsplit('-').next().unwrap();
        assert_eq!(suffix.len(), 16);
        assert!(u64::from_str_radix(suffix, 16).is_ok());
    }

    #[test]
    fn stamps_known_instants() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_376_645);
        assert_eq!(utc_stamp(t), "20261122T194405Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc_stamp(leap), "20000229T000000Z");
    }
}
