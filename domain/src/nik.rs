//! The NIK (Nomor Induk Kependudukan), the 16-digit Indonesian population number:
//!
//! ```text
//! PP RR DD  DDMMYY  SSSS
//! │  │  │   │       └ serial 0001–9999 among people of the same area, birth date and sex
//! │  │  │   └ date of birth; women have 40 added to the day
//! │  │  └ district (kecamatan)
//! │  └ regency or city
//! └ province
//! ```

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::date::{days_in_month, Date};
use crate::region;

/// Sex as recorded in the NIK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Male: day of birth stored as is.
    Male,
    /// Female: day of birth stored plus 40.
    Female,
}

/// Why a string is not a valid NIK.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NikError {
    /// Not exactly 16 characters.
    #[error("NIK must have 16 digits, found {0} characters")]
    Length(usize),
    /// A character that is not an ASCII digit.
    #[error("NIK holds a non-digit {found:?} at position {position}")]
    NonDigit {
        /// Zero-based character position.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// The province code is not in use.
    #[error("unknown province code {0:02}")]
    Province(u8),
    /// Regency or district code 00.
    #[error("regency and district codes must not be 00")]
    Area,
    /// The day field is neither 01–31 nor 41–71.
    #[error("day field {0:02} is neither 01–31 (male) nor 41–71 (female)")]
    Day(u8),
    /// The month field is not 01–12.
    #[error("month field {0:02} is not 01–12")]
    Month(u8),
    /// The day does not exist in that month.
    #[error("day {day} does not exist in month {month:02} of year ..{year:02}")]
    Date {
        /// Day of the month (after removing the female offset).
        day: u8,
        /// Month.
        month: u8,
        /// Two-digit year.
        year: u8,
    },
    /// Serial 0000.
    #[error("serial 0000 is not issued")]
    Serial,
}

/// A parsed, valid NIK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nik {
    /// Province code.
    pub province: u8,
    /// Regency or city code.
    pub regency: u8,
    /// District code.
    pub district: u8,
    /// Day of birth 1–31 (without the female offset).
    pub day: u8,
    /// Month of birth 1–12.
    pub month: u8,
    /// Last two digits of the year of birth.
    pub year2: u8,
    /// Sex.
    pub sex: Sex,
    /// Serial 1–9999.
    pub serial: u16,
}

fn two(d: &[u8]) -> u8 {
    d[0] * 10 + d[1]
}

impl Nik {
    /// Parses and validates a NIK.
    pub fn parse(s: &str) -> Result<Self, NikError> {
        let count = s.chars().count();
        if count != 16 {
            return Err(NikError::Length(count));
        }
        let mut digits = [0u8; 16];
        for (position, (slot, c)) in digits.iter_mut().zip(s.chars()).enumerate() {
            *slot = c
                .to_digit(10)
                .filter(|_| c.is_ascii_digit())
                .ok_or(NikError::NonDigit { position, found: c })? as u8;
        }
        let province = two(&digits[0..2]);
        if region::province(province).is_none() {
            return Err(NikError::Province(province));
        }
        let regency = two(&digits[2..4]);
        let district = two(&digits[4..6]);
        if regency == 0 || district == 0 {
            return Err(NikError::Area);
        }
        let raw_day = two(&digits[6..8]);
        let (day, sex) = match raw_day {
            1..=31 => (raw_day, Sex::Male),
            41..=71 => (raw_day - 40, Sex::Female),
            _ => return Err(NikError::Day(raw_day)),
        };
        let month = two(&digits[8..10]);
        if !(1..=12).contains(&month) {
            return Err(NikError::Month(month));
        }
        let year2 = two(&digits[10..12]);
        // A two-digit year names two centuries; accept 29 February when either is leap.
        let max_day = days_in_month(1900 + i32::from(year2), month)
            .max(days_in_month(2000 + i32::from(year2), month));
        if day > max_day {
            return Err(NikError::Date {
                day,
                month,
                year: year2,
            });
        }
        let serial = digits[12..16]
            .iter()
            .fold(0u16, |acc, &d| acc * 10 + u16::from(d));
        if serial == 0 {
            return Err(NikError::Serial);
        }
        Ok(Self {
            province,
            regency,
            district,
            day,
            month,
            year2,
            sex,
            serial,
        })
    }

    /// Builds the NIK of a person born on `dob` in the given area; `None` if a code is out of
    /// range (codes 1–99, serial 1–9999).
    pub fn new(
        province: u8,
        regency: u8,
        district: u8,
        dob: Date,
        sex: Sex,
        serial: u16,
    ) -> Option<Self> {
        let in_range = |c: u8| (1..=99).contains(&c);
        (in_range(province)
            && in_range(regency)
            && in_range(district)
            && (1..=9999).contains(&serial))
        .then_some(Self {
            province,
            regency,
            district,
            day: dob.day,
            month: dob.month,
            year2: dob.year.rem_euclid(100) as u8,
            sex,
            serial,
        })
    }

    /// The full date of birth, taking the century that puts it at or before `current_year`.
    pub fn birth_date(&self, current_year: i32) -> Option<Date> {
        let base = current_year - current_year.rem_euclid(100);
        let mut year = base + i32::from(self.year2);
        if year > current_year {
            year -= 100;
        }
        Date::new(year, self.month, self.day)
    }
}

impl std::fmt::Display for Nik {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let day = match self.sex {
            Sex::Male => self.day,
            Sex::Female => self.day + 40,
        };
        write!(
            f,
            "{:02}{:02}{:02}{:02}{:02}{:02}{:04}",
            self.province, self.regency, self.district, day, self.month, self.year2, self.serial
        )
    }
}

impl std::str::FromStr for Nik {
    type Err = NikError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_female_day_offset() {
        let nik = Nik::parse("3174094512870003").unwrap();
        assert_eq!((nik.province, nik.regency, nik.district), (31, 74, 9));
        assert_eq!((nik.day, nik.month, nik.year2), (5, 12, 87));
        assert_eq!(nik.sex, Sex::Female);
        assert_eq!(nik.serial, 3);
        assert_eq!(nik.birth_date(2025), Date::new(1987, 12, 5));
        assert_eq!(nik.to_string(), "3174094512870003");
        let male = Nik::parse("3578011708450101").unwrap();
        assert_eq!(male.sex, Sex::Male);
        assert_eq!(male.birth_date(2025), Date::new(1945, 8, 17));
    }

    #[test]
    fn rejects_malformed_numbers_with_typed_errors() {
        assert_eq!(Nik::parse("317409451287000"), Err(NikError::Length(15)));
        assert_eq!(Nik::parse("31740945128700031"), Err(NikError::Length(17)));
        assert_eq!(
            Nik::parse("31740945128x0003"),
            Err(NikError::NonDigit {
                position: 11,
                found: 'x'
            })
        );
        assert_eq!(
            Nik::parse("3174094512870٣03"),
            Err(NikError::NonDigit {
                position: 13,
                found: '٣'
            })
        );
        assert_eq!(Nik::parse("9974094512870003"), Err(NikError::Province(99)));
        assert_eq!(Nik::parse("3100094512870003"), Err(NikError::Area));
        assert_eq!(Nik::parse("3174093512870003"), Err(NikError::Day(35)));
        assert_eq!(Nik::parse("3174090013870003"), Err(NikError::Day(0)));
        assert_eq!(Nik::parse("3174091513870003"), Err(NikError::Month(13)));
        assert_eq!(
            Nik::parse("3174093102870003"),
            Err(NikError::Date {
                day: 31,
                month: 2,
                year: 87
            })
        );
        assert_eq!(
            Nik::parse("3174096902870003"),
            Err(NikError::Date {
                day: 29,
                month: 2,
                year: 87
            })
        );
        assert!(Nik::parse("3174096902880003").is_ok());
        assert_eq!(Nik::parse("3174094512870000"), Err(NikError::Serial));
    }

    #[test]
    fn built_numbers_round_trip() {
        let dob = Date::new(2001, 2, 9).unwrap();
        let nik = Nik::new(51, 71, 3, dob, Sex::Female, 42).unwrap();
        let text = nik.to_string();
        assert_eq!(text, "5171034902010042");
        assert_eq!(Nik::parse(&text), Ok(nik));
        assert_eq!(nik.birth_date(2025), Some(dob));
        assert!(Nik::new(51, 71, 3, dob, Sex::Male, 0).is_none());
    }
}
