//! Configuration is checked before any work: `serve` refuses a weak admin key before it
//! opens (or creates) a gallery.

#[test]
fn a_short_admin_key_is_refused_before_the_gallery_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tunggal"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("TUNGGAL_ADMIN_KEY", "too-short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TUNGGAL_ADMIN_KEY must be at least 32 characters"),
        "{err}"
    );
    assert!(
        !data.join("gallery").exists(),
        "the gallery was opened first"
    );
}
