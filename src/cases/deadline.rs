//! Case deadlines: the end of the N-th working day after the case opened, in local time.
//!
//! The service promises a card within one working day of complete documents, so by default a
//! case must be decided by the end (23:59:59) of the next working day in Western Indonesian
//! Time (UTC+7), Saturdays and Sundays skipped. Public holidays are not modelled.

use serde::{Deserialize, Serialize};

const DAY: i64 = 86_400;

/// How deadlines are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeadlinePolicy {
    /// Working days after the opening day (0: the end of the opening day itself).
    pub working_days: u32,
    /// Offset of the local time zone from UTC, in seconds (WIB: 25,200).
    pub utc_offset_secs: i64,
}

impl Default for DeadlinePolicy {
    fn default() -> Self {
        Self {
            working_days: 1,
            utc_offset_secs: 7 * 3_600,
        }
    }
}

/// Whether the day `day` (days since 1970-01-01, a Thursday) is Monday to Friday.
pub fn is_working_day(day: i64) -> bool {
    (day + 3).rem_euclid(7) < 5
}

impl DeadlinePolicy {
    /// The deadline, in seconds since the Unix epoch, of a case opened at `opened`.
    pub fn deadline(&self, opened: u64) -> u64 {
        let local = i64::try_from(opened).unwrap_or(i64::MAX / 2) + self.utc_offset_secs;
        let mut day = local.div_euclid(DAY);
        let mut left = self.working_days;
        while left > 0 {
            day += 1;
            if is_working_day(day) {
                left -= 1;
            }
        }
        u64::try_from((day + 1) * DAY - self.utc_offset_secs - 1).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u8, d: u8, h: u8) -> u64 {
        let month = time::Month::try_from(m).unwrap();
        let date = time::Date::from_calendar_date(y, month, d).unwrap();
        date.with_hms(h, 0, 0)
            .unwrap()
            .assume_utc()
            .unix_timestamp() as u64
    }

    #[test]
    fn next_working_day_end_in_wib_skipping_weekends() {
        let p = DeadlinePolicy::default();
        // Wednesday 2026-11-25 10:00 UTC (17:00 WIB) → Thursday 23:59:59 WIB = 16:59:59 UTC.
        assert_eq!(p.deadline(at(2026, 11, 25, 10)), at(2026, 11, 26, 17) - 1);
        // Wednesday 18:00 UTC is already Thursday 01:00 WIB → Friday's end.
        assert_eq!(p.deadline(at(2026, 11, 25, 18)), at(2026, 11, 27, 17) - 1);
        // Friday 2026-11-27 09:00 UTC → Monday 2026-11-30.
        assert_eq!(p.deadline(at(2026, 11, 27, 9)), at(2026, 11, 30, 17) - 1);
        // Saturday and Sunday → Monday.
        assert_eq!(p.deadline(at(2026, 11, 28, 9)), at(2026, 11, 30, 17) - 1);
        assert_eq!(p.deadline(at(2026, 11, 29, 9)), at(2026, 11, 30, 17) - 1);
        // Two working days from Thursday → Monday; zero → the same day.
        let two = DeadlinePolicy {
            working_days: 2,
            ..p
        };
        assert_eq!(two.deadline(at(2026, 11, 26, 3)), at(2026, 11, 30, 17) - 1);
        let zero = DeadlinePolicy {
            working_days: 0,
            utc_offset_secs: 0,
        };
        assert_eq!(zero.deadline(at(2026, 11, 26, 3)), at(2026, 11, 27, 0) - 1);
    }

    #[test]
    fn weekdays() {
        assert!(is_working_day(0)); // Thursday 1970-01-01
        assert!(!is_working_day(2)); // Saturday
        assert!(!is_working_day(3)); // Sunday
        assert!(is_working_day(4)); // Monday
    }
}
