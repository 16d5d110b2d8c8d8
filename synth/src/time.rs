//! Calendar arithmetic on plain integers: no clock, no time-zone database.
//!
//! Days count from 1970-01-01 (the proleptic Gregorian calendar), timestamps
//! are minutes since 1970-01-01T00:00 in the practice's local time; the
//! practice's fixed UTC offset is appended when a timestamp is formatted.

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub(crate) const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number.
pub(crate) const fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The fixed reference date 2026-01-01 as a day number: every generated
/// clinical date lies before it (future appointments excepted).
pub(crate) const REF_DAY: i64 = days_from_civil(2026, 1, 1);

/// Days in a (Julian-average) year, for age arithmetic.
pub(crate) const YEAR: f64 = 365.25;

/// `YYYY-MM-DD` of a day number.
pub(crate) fn date(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Month (1..=12) of a day number.
pub(crate) fn month(day: i64) -> i64 {
    civil_from_days(day).1
}

/// A local timestamp with minute precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ts(pub i64);

impl Ts {
    /// The timestamp at `hour:minute` local time on `day`.
    pub(crate) fn at(day: i64, hour: i64, minute: i64) -> Ts {
        Ts(day * 1440 + hour * 60 + minute)
    }

    /// Day number of this timestamp.
    pub(crate) fn day(self) -> i64 {
        self.0.div_euclid(1440)
    }

    /// This timestamp plus `m` minutes.
    pub(crate) fn plus(self, m: i64) -> Ts {
        Ts(self.0 + m)
    }

    /// `YYYY-MM-DD` of this timestamp.
    pub(crate) fn date(self) -> String {
        date(self.day())
    }

    /// FHIR `dateTime`/`instant` text with seconds and the given UTC offset.
    pub(crate) fn fmt(self, offset: &str) -> String {
        // Hand-rolled: this runs a few million times per 10,000 patients.
        fn push2(s: &mut String, v: i64) {
            s.push(char::from(b'0' + (v / 10) as u8));
            s.push(char::from(b'0' + (v % 10) as u8));
        }
        let (y, m, d) = civil_from_days(self.day());
        let mins = self.0.rem_euclid(1440);
        let mut s = String::with_capacity(20 + offset.len());
        if (0..10_000).contains(&y) {
            push2(&mut s, y / 100);
            push2(&mut s, y % 100);
        } else {
            s.push_str(&format!("{y:04}"));
        }
        s.push('-');
        push2(&mut s, m);
        s.push('-');
        push2(&mut s, d);
        s.push('T');
        push2(&mut s, mins / 60);
        s.push(':');
        push2(&mut s, mins % 60);
        s.push_str(":00");
        s.push_str(offset);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(date(REF_DAY), "2026-01-01");
        for z in [-800_000, -1, 0, 59, 60, 11_016, 20_454, 40_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(date(days_from_civil(2024, 2, 29)), "2024-02-29");
    }

    #[test]
    fn timestamp_format() {
        let t = Ts::at(REF_DAY - 1, 9, 5);
        assert_eq!(t.fmt("-06:00"), "2025-12-31T09:05:00-06:00");
        assert_eq!(t.plus(60 * 15).fmt("Z"), "2026-01-01T00:05:00Z");
    }
}
