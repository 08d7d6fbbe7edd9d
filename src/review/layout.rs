//! The page shell (header, styles, shortcuts script) and small formatting helpers.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::session::Session;

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:#1e293b;background:#f1f5f9}
a{color:#1d4ed8;text-decoration:none}a:hover{text-decoration:underline}
header.top{display:flex;align-items:center;gap:16px;background:#0f2747;color:#fff;padding:8px 20px}
header.top .brand{font-weight:700;font-size:16px;letter-spacing:.3px}
header.top .brand small{font-weight:400;opacity:.75;margin-left:6px}
header.top nav{flex:1}header.top nav a{color:#cbd5e1;margin-right:14px}
header.top .who{opacity:.85}
header.top form{margin:0}
main{max-width:1340px;margin:0 auto;padding:14px 16px 40px}
h1{font-size:19px;margin:4px 0 12px}h2{font-size:15px;margin:18px 0 8px}
.card{background:#fff;border:1px solid #dbe3ec;border-radius:8px;padding:12px 14px;margin-bottom:14px}
button,.btn{font:inherit;border:1px solid #94a3b8;background:#fff;border-radius:6px;padding:5px 12px;cursor:pointer;color:#1e293b}
button.primary{background:#1d4ed8;border-color:#1d4ed8;color:#fff}
button.danger{background:#b91c1c;border-color:#b91c1c;color:#fff}
button.ok{background:#15803d;border-color:#15803d;color:#fff}
button.warn{background:#b45309;border-color:#b45309;color:#fff}
button.ghost{background:transparent;color:#e2e8f0;border-color:#475569;padding:3px 10px}
kbd{font:11px ui-monospace,monospace;border:1px solid #cbd5e1;border-bottom-width:2px;border-radius:3px;padding:0 4px;background:#f8fafc;color:#334155;margin-left:6px}
button kbd{background:rgba(255,255,255,.2);color:inherit;border-color:rgba(255,255,255,.5)}
input,select,textarea{font:inherit;border:1px solid #94a3b8;border-radius:6px;padding:4px 7px;background:#fff}
table{border-collapse:collapse;width:100%}
th,td{padding:6px 8px;border-bottom:1px solid #e2e8f0;text-align:left;vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.4px;color:#64748b;background:#f8fafc}
table.queue tbody tr:hover{background:#eff6ff;cursor:pointer}
.num{text-align:right;font-variant-numeric:tabular-nums}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
.muted{color:#64748b}.small{font-size:12px}
.badge{display:inline-block;font-size:11px;font-weight:600;padding:1px 7px;border-radius:10px;background:#e2e8f0;color:#334155;white-space:nowrap}
.badge.open{background:#dbeafe;color:#1e40af}.badge.pending_approval{background:#fef3c7;color:#92400e}
.badge.escalated{background:#ede9fe;color:#5b21b6}.badge.confirmed_duplicate{background:#fee2e2;color:#991b1b}
.badge.cleared{background:#dcfce7;color:#166534}.badge.taken{background:#334155;color:#fff}
.badge.same-pair{background:#fee2e2;color:#991b1b}
.near{color:#b45309;font-weight:600}.overdue{color:#b91c1c;font-weight:700}
tr.overdue-row td:first-child{box-shadow:inset 3px 0 #dc2626}tr.near-row td:first-child{box-shadow:inset 3px 0 #f59e0b}
form.filters{display:flex;flex-wrap:wrap;gap:8px 12px;align-items:end}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:#475569;gap:2px}
form.filters input{width:120px}form.filters input.s{width:76px}
.pager{display:flex;gap:10px;align-items:center;margin-top:10px}
.flash{padding:8px 12px;border-radius:6px;margin-bottom:12px;border:1px solid}
.flash.ok{background:#f0fdf4;border-color:#86efac;color:#14532d}.flash.err{background:#fef2f2;border-color:#fca5a5;color:#7f1d1d}
.flash.info{background:#eff6ff;border-color:#93c5fd;color:#1e3a8a}
.tabs{display:flex;gap:6px;margin:0 0 10px;flex-wrap:wrap}
.tabs a{padding:5px 12px;border:1px solid #cbd5e1;border-radius:6px;background:#fff;color:#334155}
.tabs a.on{background:#0f2747;color:#fff;border-color:#0f2747}
.cols{display:grid;grid-template-columns:minmax(0,1fr) 330px;gap:14px;align-items:start}
table.meta td.diff{background:#fef3c7;font-weight:600}
table.meta th{width:150px}table.meta td,table.meta th{padding:3px 8px}
h2.first{margin-top:0}
.media{display:flex;gap:16px;flex-wrap:wrap}.media figure{margin:0}.media img{max-height:140px;max-width:200px;border:1px solid #cbd5e1;border-radius:4px;background:#fff}
table.grid td,table.grid th{text-align:center;padding:5px 3px;font-size:12px}
table.grid td{font-variant-numeric:tabular-nums;font-weight:600;border:2px solid #fff}
.s-strong{background:#15803d;color:#fff}.s-moderate{background:#86efac;color:#14532d}.s-weak{background:#fde68a;color:#78350f}.s-none{background:#f1f5f9;color:#94a3b8}.s-against{background:#fecaca;color:#7f1d1d}
.fingers{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:12px}
.fingers figure{margin:0;background:#fff;border:1px solid #dbe3ec;border-radius:8px;padding:8px}
.fingers figcaption{font-size:12px;margin-bottom:4px}
svg.minutiae{width:100%;height:auto;display:block}
svg.minutiae .panel{fill:#f8fafc;stroke:#cbd5e1}
svg.minutiae image.print{opacity:.8}
.zoom a,.zoom strong{padding:0 4px}
svg.minutiae .match-line{stroke:#16a34a;stroke-width:1.1;opacity:.75}
svg.minutiae .minutia circle{fill:none;stroke-width:1.6}
svg.minutiae .minutia line{stroke-width:1.6}
svg.minutiae .matched circle,svg.minutiae .matched line{stroke:#1d4ed8}
svg.minutiae .plain circle,svg.minutiae .plain line{stroke:#64748b}
svg.minutiae .pair-no{font:9px ui-monospace,monospace;fill:#1e3a8a}
svg.minutiae .hl circle{fill:#f59e0b;stroke:#b45309;stroke-width:2.4}svg.minutiae .hl .pair-no{font-weight:700;fill:#b45309}
svg.minutiae .match-line.hl{stroke:#f59e0b;stroke-width:2.6;opacity:1}
table.pairs tr.hl{background:#fef3c7}
.finger-large svg.minutiae{max-width:1300px}
.side{position:sticky;top:10px}
svg.minutiae .unmatched{opacity:.28}svg.minutiae .unmatched circle,svg.minutiae .unmatched line{stroke:#64748b}
figure.iris{margin:0 0 12px;background:#fff;border:1px solid #dbe3ec;border-radius:8px;padding:8px}
figure.iris figcaption{margin-bottom:6px}
.iris-row{display:flex;align-items:center;gap:8px;margin:2px 0}
.iris-row .lbl{width:130px;font-size:12px;color:#475569}
.iris-row img{image-rendering:pixelated;max-width:100%;height:auto;border:1px solid #cbd5e1}
.iris-row .disagree{font-size:14px;color:#b91c1c}
.eye-row{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
figure.eye-images{margin:0 0 12px;background:#fff;border:1px solid #dbe3ec;border-radius:8px;padding:8px}
.eye-sides{display:flex;flex-wrap:wrap;gap:10px}.eye-side{max-width:320px}
svg.eye{display:block;max-width:100%;height:auto;border:1px solid #cbd5e1;background:#0f172a}
svg.eye circle,svg.eye polygon,svg.eye path{fill:none;stroke-width:1.5}
svg.eye .pupil{stroke:#22d3ee}svg.eye .limbus{stroke:#facc15}svg.eye .eyelid{stroke:#e879f9}
svg.eye path.eye-mask{fill:rgba(239,68,68,.45);stroke:none}
.decide textarea{width:100%;min-height:70px;margin:6px 0}
.decide .buttons{display:flex;flex-wrap:wrap;gap:6px}
.trail{font-size:12px;max-height:260px;overflow:auto}.trail li{margin-bottom:3px}
.legend{font-size:12px;color:#475569;display:flex;gap:12px;flex-wrap:wrap;margin:6px 0}
.legend span{display:inline-flex;align-items:center;gap:4px}.legend i{display:inline-block;width:12px;height:12px;border-radius:2px}
.login{max-width:420px;margin:70px auto}.login input{width:100%;margin:6px 0 12px}
"#;

/// A full page with the header bar (when logged in).
pub fn page(title: &str, session: Option<&Session>, body: Markup, script: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Tunggal review" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header.top {
                    span.brand { "Tunggal" small { "Duplicate case review" } }
                    nav {
                        @if session.is_some() {
                            a href="/review" { "Queue" }
                            a href="/review?status=pending_approval" { "Awaiting approval" }
                            a href="/review?status=escalated" { "Escalated" }
                        }
                    }
                    @if let Some(s) = session {
                        span.who { "Analyst: " strong { (s.principal.name) } }
                        form method="post" action="/review/logout" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            button.ghost type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
                @if let Some(js) = script { script { (PreEscaped(js)) } }
            }
        }
    }
}

/// An error page with a status code.
pub fn error_page(status: StatusCode, session: Option<&Session>, message: &str) -> Response {
    let body = html! {
        div.card {
            h1 { (status.as_u16()) " · " (status.canonical_reason().unwrap_or("Error")) }
            p.flash.err { (message) }
            p { a href="/review" { "Back to the queue" } }
        }
    };
    (
        status,
        Html(page("Error", session, body, None).into_string()),
    )
        .into_response()
}

/// A duration in seconds as `2d 3h`, `3h 12m` or `12m`.
pub fn duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m")
    }
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM` in UTC+`offset`.
pub fn local_time(secs: u64, offset: i64) -> String {
    let t = i64::try_from(secs).unwrap_or(0) + offset;
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// The zone name of a UTC offset: `WIB` for UTC+7 (the deadline policy's default), else
/// `UTC+h`.
pub fn zone(offset: i64) -> String {
    match offset {
        25_200 => "WIB".to_owned(),
        o if o % 3_600 == 0 => format!("UTC{:+}", o / 3_600),
        o => format!("UTC{:+}m", o / 60),
    }
}

/// A time shown in the local zone with its name, UTC on hover.
pub fn time_tag(secs: u64, offset: i64) -> Markup {
    html! {
        time datetime=(crate::clock::rfc3339(secs)) title={(local_time(secs, 0)) " UTC"} {
            (local_time(secs, offset)) " " (zone(offset))
        }
    }
}

/// The time left to a deadline, with a class: `overdue`, `near` (under four hours) or none.
pub fn time_left(deadline: u64, now: u64) -> (String, &'static str) {
    if deadline < now {
        (format!("overdue {}", duration(now - deadline)), "overdue")
    } else if deadline - now < 4 * 3_600 {
        (duration(deadline - now), "near")
    } else {
        (duration(deadline - now), "")
    }
}

/// The Content-Security-Policy of the review pages: scripts only the two page scripts (by
/// hash), images from the service or inline `data:` PNGs, no framing, forms only to the
/// service. Styles stay inline (the page shell's sheet and a few attributes).
pub fn content_security_policy() -> &'static str {
    static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        use base64::Engine as _;
        use sha2::Digest as _;
        let hashes: Vec<String> = [super::case_page::SCRIPT, super::queue::SCRIPT]
            .iter()
            .map(|js| {
                let digest = sha2::Sha256::digest(js.as_bytes());
                format!(
                    "'sha256-{}'",
                    base64::engine::general_purpose::STANDARD.encode(digest)
                )
            })
            .collect();
        format!(
            "default-src 'none'; script-src {}; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'",
            hashes.join(" ")
        )
    })
}

/// Adds the review pages' protective headers: no caching (pages show NIKs and biometrics),
/// no framing, the [`content_security_policy`], and under TLS the `Secure` cookie flag.
pub fn secure_headers(
    mut response: axum::response::Response,
    tls: bool,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(content_security_policy()),
    );
    if tls {
        let cookies: Vec<HeaderValue> = h
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| HeaderValue::from_str(&format!("{v}; Secure")).ok())
            .collect();
        h.remove(header::SET_COOKIE);
        for c in cookies {
            h.append(header::SET_COOKIE, c);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_deadline_classes() {
        assert_eq!(duration(59), "0m");
        assert_eq!(duration(3_600 + 120), "1h 2m");
        assert_eq!(duration(2 * 86_400 + 3 * 3_600), "2d 3h");
        assert_eq!(time_left(100, 200).1, "overdue");
        assert_eq!(time_left(200 + 3_600, 200).1, "near");
        assert_eq!(time_left(200 + 5 * 3_600, 200), ("5h 0m".to_owned(), ""));
        assert_eq!(local_time(0, 7 * 3_600), "1970-01-01 07:00");
        assert_eq!(
            time_tag(0, 7 * 3_600).into_string(),
            "<time datetime=\"1970-01-01T00:00:00Z\" title=\"1970-01-01 00:00 UTC\">1970-01-01 07:00 WIB</time>"
        );
        assert_eq!(zone(8 * 3_600), "UTC+8");
    }

    #[test]
    fn cookies_are_secure_only_under_tls() {
        let with_cookie = || {
            let mut r = axum::response::Response::new(axum::body::Body::empty());
            r.headers_mut().append(
                axum::http::header::SET_COOKIE,
                axum::http::HeaderValue::from_static("a=1; Path=/review; HttpOnly"),
            );
            r.headers_mut().append(
                axum::http::header::SET_COOKIE,
                axum::http::HeaderValue::from_static("b=2; Path=/review; HttpOnly"),
            );
            r
        };
        let plain = secure_headers(with_cookie(), false);
        assert!(plain
            .headers()
            .get_all(axum::http::header::SET_COOKIE)
            .iter()
            .all(|v| !v.to_str().unwrap_or("").contains("Secure")));
        let tls = secure_headers(with_cookie(), true);
        let cookies: Vec<&str> = tls
            .headers()
            .get_all(axum::http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert_eq!(cookies.len(), 2);
        assert!(
            cookies.iter().all(|c| c.ends_with("; Secure")),
            "{cookies:?}"
        );
    }
}
