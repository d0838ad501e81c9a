//! The two time formats of AWS: `X-Amz-Date` (`20231114T221320Z`) and the RFC 3339 `Expiration` of
//! credentials (`2023-11-14T22:13:20Z`, fractions and offsets allowed), to `SystemTime`.

use std::time::{Duration, SystemTime};

/// Days since 1970-01-01 of a proleptic Gregorian date, after Howard Hinnant's algorithm.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// 10000-01-01T00:00:00Z in seconds since 1970: the first instant whose `X-Amz-Date` would need
/// five digits for its year.
const AMZ_DATE_END: u64 = 253_402_300_800;

/// Whether an `X-Amz-Date` can carry `now`: from 1970 to the end of the year 9999. A caller's
/// clock can read anything, and `aws-sigv4` panics on a year it cannot write.
pub(crate) fn signable(now: SystemTime) -> bool {
    now.duration_since(SystemTime::UNIX_EPOCH)
        .is_ok_and(|since| since.as_secs() < AMZ_DATE_END)
}

/// Digits of `text[range]` as a number.
fn number(text: &str, range: std::ops::Range<usize>) -> Option<i64> {
    let digits = text.get(range)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn at(fields: [i64; 6], offset_seconds: i64) -> Option<SystemTime> {
    let [year, month, day, hour, minute, second] = fields;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
        - offset_seconds;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(seconds).ok()?))
}

/// `YYYYMMDDTHHMMSSZ`.
#[cfg(any(test, feature = "server"))]
pub fn parse_amz_date(date: &str) -> Option<SystemTime> {
    let bytes = date.as_bytes();
    if bytes.len() != 16 || bytes.get(8) != Some(&b'T') || bytes.get(15) != Some(&b'Z') {
        return None;
    }
    let n = |r| number(date, r);
    at(
        [
            n(0..4)?,
            n(4..6)?,
            n(6..8)?,
            n(9..11)?,
            n(11..13)?,
            n(13..15)?,
        ],
        0,
    )
}

/// RFC 3339: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; the fraction is dropped.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let n = |r| number(text, r);
    let fields = [
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    ];
    let mut rest = text.get(19..)?;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = fraction.get(digits..)?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            sign * (number(rest, 1..3)? * 3_600 + number(rest, 4..6)? * 60)
        }
    };
    at(fields, offset)
}

/// `time` as RFC 3339 in UTC, to the second (`2023-11-14T22:13:20Z`).
pub fn format_rfc3339(time: SystemTime) -> String {
    let seconds = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // The inverse of `days_from_civil`, after the same algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_amz_date_carries_1970_to_9999() {
        assert_eq!(
            i64::try_from(AMZ_DATE_END).ok(),
            Some(days_from_civil(10_000, 1, 1) * 86_400)
        );
        let end = SystemTime::UNIX_EPOCH + Duration::from_secs(AMZ_DATE_END);
        assert!(signable(SystemTime::UNIX_EPOCH));
        assert!(signable(end - Duration::from_secs(1)));
        assert!(!signable(end));
        assert!(!signable(crate::environment::end_of_time()));
        assert!(!signable(SystemTime::UNIX_EPOCH - Duration::from_secs(1)));
    }

    #[test]
    fn both_formats() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_amz_date("20231114T221320Z"), Some(t));
        assert_eq!(
            parse_amz_date("19700101T000000Z"),
            Some(SystemTime::UNIX_EPOCH)
        );
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(t));
        assert_eq!(format_rfc3339(t), "2023-11-14T22:13:20Z");
        for seconds in [0u64, 951_782_400, 4_102_444_799, 1_709_164_800] {
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
            assert_eq!(parse_rfc3339(&format_rfc3339(at)), Some(at), "{seconds}");
        }
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.123456Z"), Some(t));
        assert_eq!(parse_rfc3339("2023-11-15T00:13:20+02:00"), Some(t));
        for bad in [
            "",
            "20231314T221320Z",
            "2023111xT221320Z",
            "20231114 221320Z",
            "20231114T221320",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
        for bad in [
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20.Z",
            "2023-13-14T22:13:20Z",
            "2023-11-14T22:13:20+0200",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
