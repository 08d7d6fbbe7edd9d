//! Drives the review pages in real headless Chromium through chromedriver (WebDriver).
//!
//! Needs `chromium` and `chromium-driver` (Debian packages; `.ci/run` installs them). When
//! either is missing the test prints why and skips. Screenshots of the queue and of a case
//! page are saved under `$CARGO_TARGET_DIR/review-screenshots/` (default `target/`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod review_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tunggal::cases::{CaseOutcome, CaseStatus};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("review-screenshots")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn browser(profile: &Path) -> (tokio::process::Child, Client) {
    let port = free_port();
    let driver = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1366,768",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await;
        if let Ok(client) = client {
            return (driver, client);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("chromedriver did not start a session on {url}");
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn count(c: &Client, css: &str) -> usize {
    c.find_all(Locator::Css(css)).await.unwrap().len()
}

async fn log_in(c: &Client, base: &str, key: &str) {
    c.goto(&format!("{base}/review")).await.unwrap();
    // No session: the queue redirects to the log-in form.
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/review/login"));
    c.find(Locator::Id("key"))
        .await
        .unwrap()
        .send_keys(key)
        .await
        .unwrap();
    c.find(Locator::Id("login-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("table.queue"))
        .await
        .unwrap();
}

async fn log_out(c: &Client) {
    c.find(Locator::Css("header.top form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("login-button"))
        .await
        .unwrap();
}

/// Presses a key on the page (outside any input), as the shortcut handler sees it.
async fn press(c: &Client, key: &str) {
    c.execute(
        "document.body.dispatchEvent(new KeyboardEvent('keydown', {key: arguments[0], bubbles: true}))",
        vec![json!(key)],
    )
    .await
    .unwrap();
}

async fn save(c: &Client, name: &str) {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysts_review_a_case_in_chromium() {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(tool).exists() {
            eprintln!("skipping the browser test: {tool} is missing (apt-get install -y chromium chromium-driver)");
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let s = review_support::start(dir.path(), 40).await;
    let base = s.url("");
    let (_driver, c) = browser(profile.path()).await;
    c.set_window_size(1366, 768).await.unwrap();

    // Analyst A logs in and sees the queue.
    log_in(&c, &base, &s.analyst_a).await;
    assert!(text(&c, "main").await.contains("40 cases"));
    save(&c, "queue.png").await;

    // Filter: district 320101 (every third case), highest score first.
    let district = c.find(Locator::Css("input[name=district]")).await.unwrap();
    district.send_keys("320101").await.unwrap();
    c.find(Locator::Css("select[name=sort]"))
        .await
        .unwrap()
        .select_by_value("score")
        .await
        .unwrap();
    c.find(Locator::Id("apply-filters"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut filtered = false;
    for _ in 0..100 {
        let url = c.current_url().await.unwrap();
        if url.query().unwrap_or_default().contains("district=320101") {
            filtered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(filtered, "the filter form did not navigate");
    c.wait()
        .for_element(Locator::Css("table.queue"))
        .await
        .unwrap();
    let summary = text(&c, "main .card p").await;
    assert!(summary.starts_with("14 cases"), "{summary}");
    // Highest score first: case 40 (i = 39) is the best-scoring 320101 case.
    let first = text(&c, "table.queue tbody tr:first-child td:first-child a").await;
    assert_eq!(first, "C000000040");

    // Open case 4 (district 320101).
    c.goto(&format!("{base}/review?district=320101&sort=newest&page=1"))
        .await
        .unwrap();
    c.find(Locator::LinkText("C000000004"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("modality-grid"))
        .await
        .unwrap();
    // The search flagged the right thumb (equal templates) and the right eye: the banner
    // names them above the evidence.
    let banner = text(&c, "#identical-capture").await;
    assert!(banner.contains("Identical capture"), "{banner}");
    assert!(
        text(&c, "#identical-exact").await.contains("R thumb"),
        "{banner}"
    );
    assert!(
        text(&c, "#identical-near").await.contains("R eye"),
        "{banner}"
    );
    assert_eq!(count(&c, "#modality-grid td.finger").await, 10);
    assert_eq!(count(&c, "#modality-grid td.eye").await, 2);
    assert_eq!(count(&c, "#modality-grid td.s-strong").await, 5);
    assert_eq!(count(&c, "#fingers svg.minutiae").await, 9);
    // Seven fingers are evidence for a match (24 pairs each); positions 5 and 10 are
    // evidence against and are drawn without a single correspondence line.
    assert_eq!(
        count(&c, "#fingers svg.minutiae line.match-line").await,
        7 * 24
    );
    assert_eq!(count(&c, "#fingers svg.minutiae.against").await, 2);
    assert_eq!(
        count(&c, "#fingers svg.minutiae.against line.match-line").await,
        0
    );
    assert_eq!(
        count(&c, "#fingers figure[data-position='10'] line.match-line").await,
        0
    );
    assert!(count(&c, "#fingers svg.minutiae g.unmatched").await > 0);
    // Hovering a numbered minutia highlights its pair in both panels and the line between.
    let lit = c
        .execute(
            "var f=document.querySelector(\"#fingers figure[data-position='1']\");\
             f.querySelector(\"g[data-pair='3']\").dispatchEvent(new MouseEvent('mouseover',{bubbles:true}));\
             return f.querySelectorAll('.hl').length;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(lit.as_u64(), Some(3));
    // Two eyes, three legible strips each (both codes with their masks, the difference).
    assert_eq!(count(&c, "#irises figure.iris img").await, 6);
    let width = c
        .execute(
            "return document.querySelector('#irises img.diff').naturalWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(width.as_u64(), Some(512));
    assert!(text(&c, "#irises").await.contains("disagree"));
    assert!(text(&c, "table.meta").await.contains("Agus Wijaya"));
    save(&c, "case.png").await;
    c.execute(
        "document.getElementById('fingers').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    save(&c, "case-fingers.png").await;
    c.execute("document.getElementById('irises').scrollIntoView()", vec![])
        .await
        .unwrap();
    save(&c, "case-irises.png").await;
    // The decision box stays in view while the evidence scrolls.
    let in_view = c
        .execute(
            "var r=document.getElementById('decision').getBoundingClientRect();\
             return [window.scrollY, r.top, r.bottom, window.innerHeight];",
            vec![],
        )
        .await
        .unwrap();
    let v: Vec<f64> = in_view
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(v[0] > 500.0, "the page did not scroll: {v:?}");
    assert!(
        v[1] >= 0.0 && v[2] <= v[3],
        "decision box out of view: {v:?}"
    );

    // One finger pair opens large, with its numbered pairs listed.
    c.execute(
        "document.querySelector(\"#fingers figure[data-position='2'] a.enlarge\").click()",
        vec![],
    )
    .await
    .unwrap();
    c.wait()
        .for_element(Locator::Id("pair-table"))
        .await
        .unwrap();
    assert_eq!(count(&c, "#pair-table tbody tr").await, 24);
    save(&c, "finger-large.png").await;
    c.back().await.unwrap();
    c.wait().for_element(Locator::Id("comment")).await.unwrap();

    // A confirms the duplicate with a reason and a comment.
    c.execute(
        "document.getElementById('reason').value = 'same_person'",
        vec![],
    )
    .await
    .unwrap();
    c.find(Locator::Id("comment"))
        .await
        .unwrap()
        .send_keys("Eight fingers and both eyes agree")
        .await
        .unwrap();
    c.find(Locator::Id("btn-confirm"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("flash")).await.unwrap();
    assert_eq!(text(&c, "#case-status").await, "pending approval");
    // A cannot approve their own decision: no approve button, a notice, and the shortcut
    // does nothing.
    assert_eq!(count(&c, "#btn-approve").await, 0);
    assert!(text(&c, "#self-approval-notice")
        .await
        .contains("second analyst"));
    press(&c, "a").await;
    assert_eq!(text(&c, "#case-status").await, "pending approval");
    assert!(s.engine.closed.lock().unwrap().is_empty());
    log_out(&c).await;

    // Analyst B approves it.
    log_in(&c, &base, &s.analyst_b).await;
    c.goto(&format!("{base}/review?status=pending_approval"))
        .await
        .unwrap();
    c.find(Locator::LinkText("C000000004"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Id("comment"))
        .await
        .unwrap()
        .send_keys("Agreed, same person")
        .await
        .unwrap();
    c.find(Locator::Id("btn-approve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("final-status"))
        .await
        .unwrap();
    assert_eq!(text(&c, "#case-status").await, "confirmed duplicate");
    assert!(text(&c, "#trail").await.contains("approved"));
    // The service point's enrolment is updated through the engine.
    assert_eq!(
        s.engine.closed.lock().unwrap().clone(),
        vec![(
            "C000000004".to_owned(),
            "req-000003".to_owned(),
            CaseOutcome::ConfirmedDuplicate {
                duplicate_of: "P500003".into()
            }
        )]
    );

    // Keyboard: B clears case 5 with the C shortcut after writing a comment.
    c.goto(&format!("{base}/review/cases/C000000005"))
        .await
        .unwrap();
    c.find(Locator::Id("reason"))
        .await
        .unwrap()
        .select_by_value("other")
        .await
        .unwrap();
    let comment = c.find(Locator::Id("comment")).await.unwrap();
    comment
        .send_keys("Different people: ridge counts differ")
        .await
        .unwrap();
    c.execute("document.activeElement.blur()", vec![])
        .await
        .unwrap();
    press(&c, "c").await;
    c.wait()
        .for_element(Locator::Id("final-status"))
        .await
        .unwrap();
    assert_eq!(
        s.cases.get("C000000005").unwrap().status,
        CaseStatus::Cleared
    );

    // A later gallery pair about case 4's candidate: its history links to case 4, with the
    // confirmation and the approval.
    let mut pair = s.cases.get("C000000004").unwrap().new;
    pair.kind = tunggal::cases::CaseKind::GalleryPair;
    pair.applicant = review_support::person(900_001, "Agus Wijaya", "317101", "sp-jkt");
    pair.candidates.truncate(1);
    let later = s.cases.open_case(pair).unwrap().case_id;
    c.goto(&format!("{base}/review/cases/{later}"))
        .await
        .unwrap();
    let entry = text(&c, "#history li[data-case='C000000004']").await;
    assert!(entry.contains("the candidate"), "{entry}");
    assert!(entry.contains("confirmed duplicate of P500003"), "{entry}");
    assert!(entry.contains("Agreed, same person"), "{entry}");
    save(&c, "case-history.png").await;
    c.find(Locator::Css("#history a[href='/review/cases/C000000004']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("modality-grid"))
        .await
        .unwrap();
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/review/cases/C000000004"));
    assert!(text(&c, "h1").await.contains("C000000004"));

    c.close().await.unwrap();
    s.stop().await;
}

/// Waits until the page's URL query contains `part`.
async fn wait_for_query(c: &Client, part: &str) {
    for _ in 0..100 {
        let url = c.current_url().await.unwrap();
        if url.query().unwrap_or_default().contains(part) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page did not navigate to a query with {part}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_by_nik_and_leases_taken_on_action_only_in_chromium() {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(tool).exists() {
            eprintln!("skipping the browser test: {tool} is missing (apt-get install -y chromium chromium-driver)");
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let s = review_support::start(dir.path(), 12).await;
    let base = s.url("");
    let (_driver, c) = browser(profile.path()).await;
    c.set_window_size(1366, 768).await.unwrap();
    log_in(&c, &base, &s.analyst_a).await;

    // The search box finds case 7 by its applicant's NIK, and only it.
    let nik = s.cases.get("C000000007").unwrap().new.applicant.nik;
    c.find(Locator::Id("queue-search"))
        .await
        .unwrap()
        .send_keys(&nik)
        .await
        .unwrap();
    c.find(Locator::Id("apply-search"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_query(&c, &format!("q={nik}")).await;
    c.wait()
        .for_element(Locator::Id("search-results"))
        .await
        .unwrap();
    assert_eq!(count(&c, "#search-results table.queue tbody tr").await, 1);
    save(&c, "search.png").await;

    // Opening the case from the results takes nothing.
    c.find(Locator::LinkText("C000000007"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("btn-take")).await.unwrap();
    let case = s.cases.get("C000000007").unwrap();
    assert!(case.lease.is_none(), "opening the page took the case");
    assert_eq!(case.trail.len(), 1);
    // Pressing Take does.
    c.find(Locator::Id("btn-take"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("btn-release"))
        .await
        .unwrap();
    let case = s.cases.get("C000000007").unwrap();
    let held_by = case.lease.as_ref().map(|l| l.by.name.clone());
    assert_eq!(held_by.as_deref(), Some("Ana Analyst"));

    // Another case is decided without a take: opening it held nothing, deciding records
    // the decision (with its reason) as A's.
    c.goto(&format!("{base}/review/cases/C000000008"))
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("btn-take")).await.unwrap();
    assert!(s.cases.get("C000000008").unwrap().lease.is_none());
    c.find(Locator::Id("reason"))
        .await
        .unwrap()
        .select_by_value("family_member")
        .await
        .unwrap();
    c.find(Locator::Id("comment"))
        .await
        .unwrap()
        .send_keys("Brothers: faces alike, prints differ")
        .await
        .unwrap();
    c.find(Locator::Id("btn-clear"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("final-status"))
        .await
        .unwrap();
    assert!(text(&c, "#trail").await.contains("family member"));
    let case = s.cases.get("C000000008").unwrap();
    assert_eq!(case.status, CaseStatus::Cleared);
    assert_eq!(
        case.decision.as_ref().map(|d| d.by.name.as_str()),
        Some("Ana Analyst")
    );

    // Case 7 is still A's. Another analyst sees it taken, with no supervisor's button.
    log_out(&c).await;
    log_in(&c, &base, &s.analyst_b).await;
    c.goto(&format!("{base}/review/cases/C000000007"))
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("btn-ask")).await.unwrap();
    assert_eq!(count(&c, "#btn-supervisor-release").await, 0);
    // A supervisor does, and pressing it gives the case back to the queue.
    log_out(&c).await;
    log_in(&c, &base, &s.supervisor).await;
    c.goto(&format!("{base}/review/cases/C000000007"))
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("btn-supervisor-release"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("btn-take")).await.unwrap();
    assert!(text(&c, "#flash").await.contains("Released as supervisor"));
    assert!(text(&c, "#trail")
        .await
        .contains("released the case held by Ana Analyst (supervisor)"));
    assert_eq!(count(&c, "#btn-supervisor-release").await, 0);
    assert!(s.cases.get("C000000007").unwrap().lease.is_none());
    save(&c, "supervisor-released.png").await;

    c.close().await.unwrap();
    s.stop().await;
}
