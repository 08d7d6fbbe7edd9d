//! Turns wire requests into validated domain records, or the first [`Problem`] found.
//!
//! Checks run in field order, so a request with several faults reports the first; each
//! problem carries a JSON pointer to its field. Problem details never echo the NIK or any
//! biometric bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use tunggal_domain::date::Date;
use tunggal_domain::nik::{Nik, NikError, Sex};
use tunggal_domain::region;
use tunggal_index::iris::{IrisLayout, IrisTemplate, MatchConfig};
use tunggal_index::template::{self, FingerPosition, Format, TemplateError};

use super::record::{Citizenship, EnrolmentRecord, Eye, Finger, Iris, Origin, Person, Probe};
use super::wire::{EnrolmentRequest, FingerprintIn, IdentifyRequest, IrisIn, VerifyRequest};
use crate::problem::{Problem, Reason};

mod biometrics;
mod eyes;
mod images;

use biometrics::base64;
pub use biometrics::{fingerprint, iris, probe};
pub use eyes::{decode_eye, eye_reason, EyeImageError, EYE_IMAGE_FORMATS};
pub use images::{image_reason, DEFAULT_PPI};

/// Fewest fingerprints an enrolment may carry (missing fingers are allowed for amputees
/// and scars, down to this).
pub const MIN_ENROL_FINGERS: usize = 4;
/// Most fingerprints in one record (one per finger).
pub const MAX_FINGERS: usize = 10;
/// Most irises in one record (one per eye).
pub const MAX_IRISES: usize = 2;
/// Largest decoded photo or signature.
pub const MAX_ATTACHMENT_BYTES: usize = 512 * 1024;
/// Longest `request_id`.
pub const MAX_REQUEST_ID_LEN: usize = 64;
/// Longest name.
pub const MAX_NAME_CHARS: usize = 120;
/// Longest callback URL.
pub const MAX_CALLBACK_URL_LEN: usize = 2048;
/// Most candidates an identification may ask for.
pub const MAX_CANDIDATES: u32 = 100;

fn problem(reason: Reason, pointer: &str, detail: impl Into<String>) -> Problem {
    Problem::new(reason, detail).at(pointer)
}

fn is_token(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Checks a client-chosen `request_id`.
pub fn request_id(id: &str) -> Result<(), Problem> {
    if is_token(id, MAX_REQUEST_ID_LEN) {
        Ok(())
    } else {
        Err(problem(
            Reason::InvalidRequestId,
            "/request_id",
            format!("request_id must be 1–{MAX_REQUEST_ID_LEN} characters A-Za-z0-9._-"),
        ))
    }
}

/// Parses a NIK, mapping each parser error to its reason.
pub fn nik(s: &str, pointer: &str) -> Result<Nik, Problem> {
    Nik::parse(s).map_err(|e| {
        let reason = match e {
            NikError::Length(_) | NikError::NonDigit { .. } => Reason::NikMalformed,
            NikError::Province(_) | NikError::Area => Reason::NikInvalidRegion,
            NikError::Day(_) | NikError::Month(_) | NikError::Date { .. } => Reason::NikInvalidDate,
            NikError::Serial => Reason::NikInvalidSerial,
        };
        // The parser's messages name field values (day, month, codes), never the whole NIK.
        problem(reason, pointer, e.to_string())
    })
}

fn sex(s: &str) -> Result<Sex, Problem> {
    match s {
        "male" => Ok(Sex::Male),
        "female" => Ok(Sex::Female),
        _ => Err(problem(
            Reason::InvalidSex,
            "/sex",
            "sex must be \"male\" or \"female\"",
        )),
    }
}

fn date_of_birth(s: &str, today: Date) -> Result<Date, Problem> {
    let bad = |detail: &str| problem(Reason::InvalidDateOfBirth, "/date_of_birth", detail);
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape_ok {
        return Err(bad("date_of_birth must be YYYY-MM-DD"));
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<i32>().unwrap_or(0);
    let (year, month, day) = (num(0..4), num(5..7), num(8..10));
    let date = Date::new(year, month as u8, day as u8)
        .filter(|_| (1..=12).contains(&month))
        .ok_or_else(|| bad("date_of_birth is not a calendar date"))?;
    if year < 1900 || date > today {
        return Err(bad("date_of_birth must be between 1900-01-01 and today"));
    }
    Ok(date)
}

/// Invisible formatting characters a name never needs: zero-width spaces and joiners, the
/// word joiner and BOM, and every bidirectional mark, embedding, override and isolate
/// (which can make a name display as another one).
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
    )
}

fn name(s: &str) -> Result<String, Problem> {
    let trimmed = s.trim();
    let count = trimmed.chars().count();
    if count == 0 || count > MAX_NAME_CHARS || trimmed.chars().any(char::is_control) {
        return Err(problem(
            Reason::InvalidName,
            "/name",
            format!("name must be 1–{MAX_NAME_CHARS} characters without control characters"),
        ));
    }
    if trimmed.chars().any(is_invisible_format) {
        return Err(problem(
            Reason::InvalidName,
            "/name",
            "name must not contain zero-width or bidirectional formatting characters \
             (U+200B–U+200F, U+202A–U+202E, U+2060–U+206F, U+FEFF, …)"
                .to_owned(),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Checks a district code `PPRRDD`.
pub fn district(s: &str, pointer: &str) -> Result<String, Problem> {
    let digits = s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit());
    let two = |i: usize| s[i..i + 2].parse::<u8>().unwrap_or(0);
    if !digits || region::province(two(0)).is_none() || two(2) == 0 || two(4) == 0 {
        return Err(problem(
            Reason::InvalidDistrictCode,
            pointer,
            "district must be 6 digits PPRRDD with a known province and non-zero regency and district",
        ));
    }
    Ok(s.to_owned())
}

/// Checks a service point id.
pub fn service_point(s: &str, pointer: &str) -> Result<String, Problem> {
    if is_token(s, 32) {
        Ok(s.to_owned())
    } else {
        Err(problem(
            Reason::InvalidServicePoint,
            pointer,
            "service_point must be 1–32 characters A-Za-z0-9._-",
        ))
    }
}

fn document(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn citizenship(req: &EnrolmentRequest) -> Result<Citizenship, Problem> {
    let passport = req.passport_number.as_deref().filter(|s| !s.is_empty());
    let kitap = req.kitap_number.as_deref().filter(|s| !s.is_empty());
    match req.citizenship.as_str() {
        "WNI" => {
            if passport.is_some() || kitap.is_some() {
                return Err(problem(
                    Reason::UnexpectedWnaDocuments,
                    "/citizenship",
                    "a WNI record must not carry passport_number or kitap_number",
                ));
            }
            Ok(Citizenship::Wni)
        }
        "WNA" => {
            let (Some(passport), Some(kitap)) = (passport, kitap) else {
                let missing = match (passport, kitap) {
                    (None, None) => "passport_number and kitap_number",
                    (None, Some(_)) => "passport_number",
                    _ => "kitap_number",
                };
                return Err(problem(
                    Reason::MissingWnaDocuments,
                    "/citizenship",
                    format!("a WNA record needs {missing}"),
                ));
            };
            if !document(passport, 6, 12) {
                return Err(problem(
                    Reason::InvalidPassportNumber,
                    "/passport_number",
                    "passport_number must be 6–12 characters A-Z0-9",
                ));
            }
            if !document(kitap, 8, 20) {
                return Err(problem(
                    Reason::InvalidKitapNumber,
                    "/kitap_number",
                    "kitap_number must be 8–20 characters A-Z0-9",
                ));
            }
            Ok(Citizenship::Wna {
                passport_number: passport.to_owned(),
                kitap_number: kitap.to_owned(),
            })
        }
        _ => Err(problem(
            Reason::UnknownCitizenship,
            "/citizenship",
            "citizenship must be \"WNI\" or \"WNA\"",
        )),
    }
}

fn attachment(s: Option<&str>, field: &str) -> Result<Option<Vec<u8>>, Problem> {
    let Some(s) = s else { return Ok(None) };
    let pointer = format!("/{field}");
    // Base64 holds 3 bytes per 4 characters: refuse oversize input before decoding it.
    if s.len() / 4 * 3 > MAX_ATTACHMENT_BYTES + 3 {
        return Err(problem(
            Reason::AttachmentTooLarge,
            &pointer,
            format!("{field} exceeds {MAX_ATTACHMENT_BYTES} bytes"),
        ));
    }
    let bytes = base64(s, &pointer)?;
    if bytes.len() > MAX_ATTACHMENT_BYTES {
        return Err(problem(
            Reason::AttachmentTooLarge,
            &pointer,
            format!("{field} exceeds {MAX_ATTACHMENT_BYTES} bytes"),
        ));
    }
    Ok(Some(bytes))
}

fn callback_url(s: Option<&str>) -> Result<Option<String>, Problem> {
    let Some(s) = s else { return Ok(None) };
    // https, or plain http to this machine only (local relays and tests).
    let host = s
        .strip_prefix("https://")
        .or_else(|| {
            s.strip_prefix("http://")
                .filter(|h| h.starts_with("127.0.0.1:") || h.starts_with("localhost:"))
        })
        .unwrap_or_default();
    let ok = s.len() <= MAX_CALLBACK_URL_LEN
        && !host.is_empty()
        && !host.starts_with('/')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(Some(s.to_owned()))
    } else {
        Err(problem(
            Reason::InvalidCallbackUrl,
            "/callback_url",
            format!(
                "callback_url must be an https:// URL of at most {MAX_CALLBACK_URL_LEN} characters"
            ),
        ))
    }
}

/// Validates an enrolment request; `today` bounds the date of birth.
pub fn enrolment(req: &EnrolmentRequest, today: Date) -> Result<EnrolmentRecord, Problem> {
    request_id(&req.request_id)?;
    let nik = nik(&req.nik, "/nik")?;
    let name = name(&req.name)?;
    let sex = sex(&req.sex)?;
    let dob = date_of_birth(&req.date_of_birth, today)?;
    if nik.sex != sex {
        return Err(problem(
            Reason::NikMismatch,
            "/nik",
            "the NIK's day field encodes the other sex (women have 40 added to the day)",
        ));
    }
    if nik.day != dob.day || nik.month != dob.month || i32::from(nik.year2) != dob.year % 100 {
        return Err(problem(
            Reason::NikMismatch,
            "/nik",
            "the NIK's DDMMYY field disagrees with date_of_birth",
        ));
    }
    let district = district(&req.district, "/district")?;
    let service_point = service_point(&req.service_point, "/service_point")?;
    let citizenship = citizenship(req)?;
    let probe = probe(&req.fingerprints, &req.irises, MIN_ENROL_FINGERS)?;
    let photo = attachment(req.photo.as_deref(), "photo")?;
    let signature = attachment(req.signature.as_deref(), "signature")?;
    let callback_url = callback_url(req.callback_url.as_deref())?;
    Ok(EnrolmentRecord {
        request_id: req.request_id.clone(),
        person: Person {
            nik,
            name,
            sex,
            date_of_birth: dob,
            citizenship,
        },
        probe,
        origin: Origin {
            district,
            service_point,
        },
        photo,
        signature,
        callback_url,
    })
}

/// Validates an identification request; returns the probe and the candidate limit.
pub fn identify(req: &IdentifyRequest) -> Result<(Probe, usize), Problem> {
    request_id(&req.request_id)?;
    let probe = probe(&req.fingerprints, &req.irises, 0)?;
    let max = req.max_candidates.unwrap_or(10).clamp(1, MAX_CANDIDATES);
    Ok((probe, max as usize))
}

/// Validates a verification request.
pub fn verify(req: &VerifyRequest) -> Result<(String, Probe), Problem> {
    request_id(&req.request_id)?;
    // Bounded before it reaches the audit log or the engine.
    let r = &req.reference_id;
    if r.len() != 11 || !r.starts_with('P') || !r[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Err(problem(
            Reason::InvalidReferenceId,
            "/reference_id",
            "reference_id must be `P` followed by ten digits".to_owned(),
        ));
    }
    let probe = probe(&req.fingerprints, &req.irises, 0)?;
    Ok((req.reference_id.clone(), probe))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date {
            year: 2025,
            month: 6,
            day: 1,
        }
    }

    #[test]
    fn date_of_birth_rejects_impossible_and_future_dates() {
        assert!(date_of_birth("1990-02-28", today()).is_ok());
        for bad in [
            "1990-02-30",
            "1990-13-01",
            "90-01-01",
            "2030-01-01",
            "1899-12-31",
        ] {
            let e = date_of_birth(bad, today()).err().map(|p| p.reason);
            assert_eq!(e, Some(Reason::InvalidDateOfBirth), "{bad}");
        }
    }

    #[test]
    fn names_of_invisible_or_reordering_characters_are_refused() {
        let r = |s: &str| name(s).err().map(|p| p.reason);
        assert_eq!(
            name(" Siti Nurhaliza ").ok().as_deref(),
            Some("Siti Nurhaliza")
        );
        assert!(name("Ni Luh Putu Ayu Dewi").is_ok());
        assert!(name("Ahmad bin Abdul-Rahman").is_ok());
        for bad in [
            "\u{200B}\u{200B}\u{200C}",
            "\u{200D}",
            "Budi\u{202E}otnaS",
            "Budi\u{2066}x\u{2069}",
            "\u{FEFF}Budi",
            "Bu\u{200F}di",
        ] {
            assert_eq!(r(bad), Some(Reason::InvalidName), "{bad:?}");
        }
    }

    #[test]
    fn verify_bounds_the_reference_id() {
        let req = |r: &str| VerifyRequest {
            request_id: "v-1".into(),
            reference_id: r.into(),
            fingerprints: Vec::new(),
            irises: Vec::new(),
        };
        for bad in ["", "P123", "X0000000001", "P00000000012", "P000000000a"] {
            let e = verify(&req(bad)).err().map(|p| p.reason);
            assert_eq!(e, Some(Reason::InvalidReferenceId), "{bad:?}");
        }
        let long = format!("P{}", "1".repeat(3_000_000));
        assert_eq!(
            verify(&req(&long)).err().map(|p| p.reason),
            Some(Reason::InvalidReferenceId)
        );
        // A well-formed id passes this check (the empty probe is refused next).
        assert_ne!(
            verify(&req("P0000000001")).err().map(|p| p.reason),
            Some(Reason::InvalidReferenceId)
        );
    }

    #[test]
    fn district_needs_known_province() {
        assert!(district("317101", "/d").is_ok());
        assert!(district("007101", "/d").is_err());
        assert!(district("310001", "/d").is_err());
        assert!(district("31710", "/d").is_err());
    }

    #[test]
    fn nik_errors_map_to_reasons() {
        let r = |s: &str| nik(s, "/nik").err().map(|p| p.reason);
        assert_eq!(r("31710101019"), Some(Reason::NikMalformed));
        assert_eq!(r("3171013202900001"), Some(Reason::NikInvalidDate));
        assert_eq!(r("0071010101900001"), Some(Reason::NikInvalidRegion));
        assert_eq!(r("3171010101900000"), Some(Reason::NikInvalidSerial));
        assert!(nik("3171014101900001", "/nik").is_ok());
    }

    #[test]
    fn callback_url_must_be_https() {
        assert!(callback_url(Some("https://dukcapil.example/cb")).is_ok());
        assert!(callback_url(Some("http://x")).is_err());
        assert!(callback_url(Some("http://127.0.0.1:9/cb")).is_ok());
        assert!(callback_url(Some("https://")).is_err());
    }
}
