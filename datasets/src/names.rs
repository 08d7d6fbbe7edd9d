//! Indonesian personal names. Many Indonesians carry a single name; others a given name followed
//! by a second name (a patronymic-style name, or a clan name such as a Batak marga).

use rand::seq::SliceRandom;
use rand::Rng;

use crate::nik::Sex;

const MALE_GIVEN: &[&str] = &[
    "Budi", "Agus", "Ahmad", "Muhammad", "Andi", "Eko", "Joko", "Bambang", "Dedi", "Hendra",
    "Rudi", "Slamet", "Wahyu", "Yusuf", "Rizki", "Fajar", "Dimas", "Arif", "Hadi", "Teguh", "Iwan",
    "Wayan", "Made", "Ketut", "Nyoman", "Gede", "Irfan", "Hasan", "Rahmat", "Sutrisno", "Suparman",
    "Yoga", "Bayu", "Galih", "Aditya", "Reza", "Taufik", "Imam", "Firman", "Daniel", "Yohanes",
    "Samuel", "Ilham", "Heru", "Adi", "Fikri", "Gilang", "Haris", "Kevin", "Putra",
];

const FEMALE_GIVEN: &[&str] = &[
    "Siti", "Sri", "Dewi", "Nur", "Ayu", "Putri", "Rina", "Wati", "Fitri", "Indah", "Lestari",
    "Ratna", "Yuni", "Kartika", "Wulan", "Nurul", "Dian", "Eka", "Intan", "Maya", "Puspita",
    "Aisyah", "Fatimah", "Annisa", "Rini", "Endang", "Tuti", "Ningsih", "Nyoman", "Kadek", "Luh",
    "Komang", "Mega", "Novita", "Anggun", "Citra", "Desi", "Febri", "Hana", "Ika", "Lia", "Melati",
    "Nadia", "Oktavia", "Rosa", "Sinta", "Tiara", "Vina", "Yanti", "Zahra",
];

const MALE_SECOND: &[&str] = &[
    "Santoso",
    "Wijaya",
    "Saputra",
    "Setiawan",
    "Hidayat",
    "Kurniawan",
    "Pratama",
    "Susanto",
    "Gunawan",
    "Hakim",
    "Nugroho",
    "Prasetyo",
    "Siregar",
    "Nasution",
    "Simanjuntak",
    "Harahap",
    "Lubis",
    "Sitompul",
    "Pangaribuan",
    "Tanjung",
    "Sembiring",
    "Ginting",
    "Tarigan",
    "Sinaga",
    "Hutapea",
    "Ramadhan",
    "Firmansyah",
    "Hermawan",
    "Wibowo",
    "Purnomo",
    "Sugiarto",
    "Halim",
];

const FEMALE_SECOND: &[&str] = &[
    "Lestari",
    "Rahayu",
    "Wulandari",
    "Handayani",
    "Sari",
    "Permata",
    "Anggraini",
    "Puspitasari",
    "Maharani",
    "Kusuma",
    "Saputri",
    "Rahmawati",
    "Hasanah",
    "Safitri",
    "Utami",
    "Susanti",
    "Siregar",
    "Nasution",
    "Simanjuntak",
    "Harahap",
    "Lubis",
    "Sembiring",
    "Ginting",
    "Tarigan",
    "Pratiwi",
    "Oktaviani",
    "Fitriani",
    "Marpaung",
];

/// Draws a name for a person of `sex`: a single name about a third of the time, otherwise a
/// given name and a second name.
pub fn sample_name(sex: Sex, rng: &mut impl Rng) -> String {
    let (given, second) = match sex {
        Sex::Male => (MALE_GIVEN, MALE_SECOND),
        Sex::Female => (FEMALE_GIVEN, FEMALE_SECOND),
    };
    let first = given.choose(rng).copied().unwrap_or("Budi");
    if rng.gen_bool(0.3) {
        return first.to_owned();
    }
    let last = second.choose(rng).copied().unwrap_or("Santoso");
    format!("{first} {last}")
}
