//! Indonesian province codes, the first two digits of every NIK (Ministry of Home Affairs
//! numbering).

/// A province.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Province {
    /// Two-digit province code.
    pub code: u8,
    /// Name.
    pub name: &'static str,
}

/// Every province code in use (the first two NIK digits).
pub const PROVINCES: &[Province] = &[
    Province {
        code: 11,
        name: "Aceh",
    },
    Province {
        code: 12,
        name: "Sumatera Utara",
    },
    Province {
        code: 13,
        name: "Sumatera Barat",
    },
    Province {
        code: 14,
        name: "Riau",
    },
    Province {
        code: 15,
        name: "Jambi",
    },
    Province {
        code: 16,
        name: "Sumatera Selatan",
    },
    Province {
        code: 17,
        name: "Bengkulu",
    },
    Province {
        code: 18,
        name: "Lampung",
    },
    Province {
        code: 19,
        name: "Kepulauan Bangka Belitung",
    },
    Province {
        code: 21,
        name: "Kepulauan Riau",
    },
    Province {
        code: 31,
        name: "DKI Jakarta",
    },
    Province {
        code: 32,
        name: "Jawa Barat",
    },
    Province {
        code: 33,
        name: "Jawa Tengah",
    },
    Province {
        code: 34,
        name: "DI Yogyakarta",
    },
    Province {
        code: 35,
        name: "Jawa Timur",
    },
    Province {
        code: 36,
        name: "Banten",
    },
    Province {
        code: 51,
        name: "Bali",
    },
    Province {
        code: 52,
        name: "Nusa Tenggara Barat",
    },
    Province {
        code: 53,
        name: "Nusa Tenggara Timur",
    },
    Province {
        code: 61,
        name: "Kalimantan Barat",
    },
    Province {
        code: 62,
        name: "Kalimantan Tengah",
    },
    Province {
        code: 63,
        name: "Kalimantan Selatan",
    },
    Province {
        code: 64,
        name: "Kalimantan Timur",
    },
    Province {
        code: 65,
        name: "Kalimantan Utara",
    },
    Province {
        code: 71,
        name: "Sulawesi Utara",
    },
    Province {
        code: 72,
        name: "Sulawesi Tengah",
    },
    Province {
        code: 73,
        name: "Sulawesi Selatan",
    },
    Province {
        code: 74,
        name: "Sulawesi Tenggara",
    },
    Province {
        code: 75,
        name: "Gorontalo",
    },
    Province {
        code: 76,
        name: "Sulawesi Barat",
    },
    Province {
        code: 81,
        name: "Maluku",
    },
    Province {
        code: 82,
        name: "Maluku Utara",
    },
    Province {
        code: 91,
        name: "Papua Barat",
    },
    Province {
        code: 92,
        name: "Papua Barat Daya",
    },
    Province {
        code: 94,
        name: "Papua",
    },
    Province {
        code: 95,
        name: "Papua Selatan",
    },
    Province {
        code: 96,
        name: "Papua Tengah",
    },
    Province {
        code: 97,
        name: "Papua Pegunungan",
    },
];

/// The province with `code`, if any.
pub fn province(code: u8) -> Option<&'static Province> {
    PROVINCES.iter().find(|p| p.code == code)
}
