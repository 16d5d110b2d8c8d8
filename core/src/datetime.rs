//! FHIR date, dateTime and instant values as ranges of epoch milliseconds.
//!
//! FHIR compares dates as ranges: `2021` means the whole year, `2021-03-04` the
//! whole day, a full timestamp one millisecond. Every value becomes
//! `[start, end]` (both inclusive, milliseconds since 1970-01-01T00:00:00Z).
//! Values without a time zone are taken as UTC.

/// Lowest instant Flare represents (0001-01-01T00:00:00Z), used for open starts.
pub const MIN_MS: i64 = -62_135_596_800_000;
/// Highest instant Flare represents (9999-12-31T23:59:59.999Z), used for open ends.
pub const MAX_MS: i64 = 253_402_300_799_999;

/// A closed range of instants, in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// First millisecond included.
    pub start: i64,
    /// Last millisecond included.
    pub end: i64,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Calendar date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(s: &str, n: usize) -> Option<u32> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Parses a FHIR date, dateTime or instant (also the search forms with minute
/// precision) into the range it denotes. `None` when it is not a valid value.
pub fn parse_range(value: &str) -> Option<DateRange> {
    const DAY: i64 = 86_400_000;
    let v = value.trim();
    let (date, time) = match v.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (v, None),
    };
    let mut parts = date.split('-');
    let year = digits(parts.next()?, 4)? as i64;
    let month = parts
        .next()
        .map(|m| digits(m, 2))
        .map_or(Some(None), |m| m.map(Some))?;
    let day = parts
        .next()
        .map(|d| digits(d, 2))
        .map_or(Some(None), |d| d.map(Some))?;
    if parts.next().is_some() || (day.is_some() && month.is_none()) {
        return None;
    }
    if let Some(m) = month {
        if !(1..=12).contains(&m) {
            return None;
        }
        if let Some(d) = day {
            if d < 1 || d > days_in_month(year, m) {
                return None;
            }
        }
    }
    let Some(time) = time else {
        // Date precision: year, month or day.
        let (start_days, end_days) = match (month, day) {
            (None, _) => (days_from_civil(year, 1, 1), days_from_civil(year + 1, 1, 1)),
            (Some(m), None) => {
                let (ny, nm) = if m == 12 { (year + 1, 1) } else { (year, m + 1) };
                (days_from_civil(year, m, 1), days_from_civil(ny, nm, 1))
            }
            (Some(m), Some(d)) => {
                let s = days_from_civil(year, m, d);
                (s, s + 1)
            }
        };
        return Some(DateRange {
            start: start_days * DAY,
            end: end_days * DAY - 1,
        });
    };
    let (m, d) = (month?, day?);
    // Split off the zone: Z, +hh:mm or -hh:mm.
    let (clock, offset_ms) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0)
    } else if let Some(pos) = time.rfind(['+', '-']) {
        let (c, z) = time.split_at(pos);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let (hh, mm) = z[1..].split_once(':')?;
        let (hh, mm) = (digits(hh, 2)? as i64, digits(mm, 2)? as i64);
        if hh > 14 || mm > 59 {
            return None;
        }
        (c, sign * (hh * 3_600_000 + mm * 60_000))
    } else {
        (time, 0)
    };
    let mut hms = clock.split(':');
    let hour = digits(hms.next()?, 2)?;
    let minute = digits(hms.next()?, 2)?;
    let (second, frac, precision_ms) = match hms.next() {
        None => (0, 0, 60_000),
        Some(s) => {
            let (sec, frac) = match s.split_once('.') {
                Some((sec, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
                    let ms: String = f.chars().chain("000".chars()).take(3).collect();
                    (sec, ms.parse::<i64>().ok()?)
                }
                Some(_) => return None,
                None => (s, 0),
            };
            let precise = s.contains('.');
            (digits(sec, 2)?, frac, if precise { 1 } else { 1000 })
        }
    };
    if hms.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let start = days_from_civil(year, m, d) * DAY
        + (hour as i64) * 3_600_000
        + (minute as i64) * 60_000
        + (second as i64) * 1000
        + frac
        - offset_ms;
    Some(DateRange {
        start,
        end: start + precision_ms - 1,
    })
}

/// Formats epoch milliseconds as a FHIR instant (`2024-01-02T03:04:05.678Z`).
pub fn format_instant(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Formats epoch milliseconds as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn format_http_date(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000) / 1000;
    let (y, m, d) = civil_from_days(days);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{weekday}, {d:02} {month} {y:04} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &str) -> (String, String) {
        let x = parse_range(v).unwrap_or_else(|| panic!("{v} did not parse"));
        (format_instant(x.start), format_instant(x.end))
    }

    #[test]
    fn precisions_become_ranges() {
        assert_eq!(
            r("2021"),
            (
                "2021-01-01T00:00:00.000Z".into(),
                "2021-12-31T23:59:59.999Z".into()
            )
        );
        assert_eq!(
            r("2020-02"),
            (
                "2020-02-01T00:00:00.000Z".into(),
                "2020-02-29T23:59:59.999Z".into()
            )
        );
        assert_eq!(
            r("2021-12-31"),
            (
                "2021-12-31T00:00:00.000Z".into(),
                "2021-12-31T23:59:59.999Z".into()
            )
        );
        assert_eq!(
            r("2021-03-04T10:20"),
            (
                "2021-03-04T10:20:00.000Z".into(),
                "2021-03-04T10:20:59.999Z".into()
            )
        );
        assert_eq!(
            r("2021-03-04T10:20:30Z"),
            (
                "2021-03-04T10:20:30.000Z".into(),
                "2021-03-04T10:20:30.999Z".into()
            )
        );
        assert_eq!(
            r("2021-03-04T10:20:30.5+02:00"),
            (
                "2021-03-04T08:20:30.500Z".into(),
                "2021-03-04T08:20:30.500Z".into()
            )
        );
        assert_eq!(r("1969-12-31T23:00:00-05:00").0, "1970-01-01T04:00:00.000Z");
    }

    #[test]
    fn rejects_invalid_values() {
        for v in [
            "",
            "21",
            "2021-13",
            "2021-02-30",
            "2021-1-01",
            "2021-01-01T25:00",
            "abc",
            "2021-01-01T10:00:00+99:00",
            "2021-01-01T10",
        ] {
            assert!(parse_range(v).is_none(), "{v} parsed");
        }
    }

    #[test]
    fn http_date() {
        assert_eq!(format_http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_range("0001-01-01").unwrap().start, MIN_MS);
        assert_eq!(parse_range("9999-12-31").unwrap().end, MAX_MS);
    }
}
