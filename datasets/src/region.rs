//! A small table of Indonesian administrative areas (province, regency/city, district) with the
//! two-digit codes used in the NIK. It is a sample for synthetic data, not an authoritative
//! registry: codes follow the Ministry of Home Affairs structure and the weights roughly follow
//! population.

use rand::Rng;

pub use tunggal_domain::region::{province, Province, PROVINCES};

/// A district (kecamatan) with its regency or city and province.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct District {
    /// Province code.
    pub province: u8,
    /// Regency or city code within the province.
    pub regency: u8,
    /// District code within the regency.
    pub district: u8,
    /// Regency or city name.
    pub regency_name: &'static str,
    /// District name.
    pub name: &'static str,
    /// Relative sampling weight.
    pub weight: u16,
}

const fn d(
    province: u8,
    regency: u8,
    district: u8,
    regency_name: &'static str,
    name: &'static str,
    weight: u16,
) -> District {
    District {
        province,
        regency,
        district,
        regency_name,
        name,
        weight,
    }
}

/// The district table used by the generator.
pub const DISTRICTS: &[District] = &[
    d(31, 71, 1, "Kota Jakarta Pusat", "Gambir", 8),
    d(31, 71, 3, "Kota Jakarta Pusat", "Kemayoran", 20),
    d(31, 71, 6, "Kota Jakarta Pusat", "Menteng", 7),
    d(31, 74, 1, "Kota Jakarta Selatan", "Tebet", 21),
    d(31, 74, 4, "Kota Jakarta Selatan", "Pasar Minggu", 30),
    d(31, 74, 9, "Kota Jakarta Selatan", "Jagakarsa", 38),
    d(31, 75, 2, "Kota Jakarta Timur", "Pulo Gadung", 27),
    d(31, 75, 9, "Kota Jakarta Timur", "Cakung", 54),
    d(32, 73, 1, "Kota Bandung", "Sukasari", 8),
    d(32, 73, 11, "Kota Bandung", "Coblong", 12),
    d(32, 75, 1, "Kota Bekasi", "Bekasi Timur", 25),
    d(32, 1, 1, "Kabupaten Bogor", "Cibinong", 36),
    d(32, 1, 14, "Kabupaten Bogor", "Cileungsi", 28),
    d(32, 4, 5, "Kabupaten Bandung", "Soreang", 12),
    d(32, 16, 8, "Kabupaten Bekasi", "Cikarang Utara", 25),
    d(33, 74, 1, "Kota Semarang", "Semarang Tengah", 6),
    d(33, 74, 11, "Kota Semarang", "Tembalang", 19),
    d(33, 72, 3, "Kota Surakarta", "Banjarsari", 16),
    d(33, 2, 1, "Kabupaten Banyumas", "Purwokerto Selatan", 7),
    d(33, 10, 4, "Kabupaten Klaten", "Klaten Tengah", 4),
    d(34, 71, 4, "Kota Yogyakarta", "Umbulharjo", 9),
    d(34, 71, 5, "Kota Yogyakarta", "Kotagede", 4),
    d(34, 4, 7, "Kabupaten Sleman", "Depok", 12),
    d(35, 78, 1, "Kota Surabaya", "Karang Pilang", 8),
    d(35, 78, 9, "Kota Surabaya", "Tambaksari", 23),
    d(35, 78, 22, "Kota Surabaya", "Sukolilo", 11),
    d(35, 73, 4, "Kota Malang", "Lowokwaru", 19),
    d(35, 15, 6, "Kabupaten Sidoarjo", "Waru", 24),
    d(35, 9, 10, "Kabupaten Jember", "Kaliwates", 12),
    d(36, 71, 1, "Kota Tangerang", "Tangerang", 16),
    d(36, 74, 3, "Kota Tangerang Selatan", "Pamulang", 35),
    d(36, 3, 15, "Kabupaten Tangerang", "Curug", 20),
    d(11, 71, 1, "Kota Banda Aceh", "Meuraxa", 3),
    d(11, 71, 7, "Kota Banda Aceh", "Syiah Kuala", 4),
    d(12, 71, 10, "Kota Medan", "Medan Sunggal", 12),
    d(12, 71, 21, "Kota Medan", "Medan Helvetia", 15),
    d(12, 7, 5, "Kabupaten Deli Serdang", "Lubuk Pakam", 9),
    d(13, 71, 9, "Kota Padang", "Kuranji", 14),
    d(14, 71, 5, "Kota Pekanbaru", "Tampan", 20),
    d(16, 71, 4, "Kota Palembang", "Ilir Barat I", 13),
    d(18, 71, 1, "Kota Bandar Lampung", "Kedaton", 5),
    d(21, 71, 4, "Kota Batam", "Batam Kota", 16),
    d(51, 71, 1, "Kota Denpasar", "Denpasar Selatan", 30),
    d(51, 71, 3, "Kota Denpasar", "Denpasar Barat", 25),
    d(51, 3, 4, "Kabupaten Badung", "Kuta Utara", 15),
    d(52, 71, 2, "Kota Mataram", "Mataram", 8),
    d(53, 71, 1, "Kota Kupang", "Alak", 6),
    d(61, 71, 1, "Kota Pontianak", "Pontianak Selatan", 9),
    d(63, 71, 2, "Kota Banjarmasin", "Banjarmasin Timur", 11),
    d(64, 72, 4, "Kota Samarinda", "Samarinda Ulu", 13),
    d(64, 71, 2, "Kota Balikpapan", "Balikpapan Selatan", 15),
    d(71, 71, 6, "Kota Manado", "Wanea", 6),
    d(72, 71, 2, "Kota Palu", "Palu Barat", 5),
    d(73, 71, 10, "Kota Makassar", "Tamalate", 20),
    d(73, 71, 14, "Kota Makassar", "Biringkanaya", 22),
    d(74, 71, 1, "Kota Kendari", "Mandonga", 4),
    d(81, 71, 1, "Kota Ambon", "Nusaniwe", 5),
    d(94, 71, 3, "Kota Jayapura", "Abepura", 7),
];

impl District {
    /// The province of this district (every table entry names a listed province).
    pub fn province_name(&self) -> &'static str {
        province(self.province).map_or("", |p| p.name)
    }

    /// The six-digit area code `PPRRDD`.
    pub fn code(&self) -> String {
        format!(
            "{:02}{:02}{:02}",
            self.province, self.regency, self.district
        )
    }
}

/// Draws a district by population weight.
pub fn sample_district(rng: &mut impl Rng) -> &'static District {
    let total: u32 = DISTRICTS.iter().map(|d| u32::from(d.weight)).sum();
    let mut pick = rng.gen_range(0..total);
    for district in DISTRICTS {
        let w = u32::from(district.weight);
        if pick < w {
            return district;
        }
        pick -= w;
    }
    &DISTRICTS[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_district_names_a_known_province_and_codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for d in DISTRICTS {
            assert!(province(d.province).is_some(), "{}", d.name);
            assert!(d.regency > 0 && d.district > 0 && d.weight > 0);
            assert!(seen.insert(d.code()), "duplicate {}", d.code());
        }
    }
}
