//! What the MOSIP tests run beside Tunggal: an ActiveMQ broker of their own (Debian's
//! `activemq`, on loopback, free ports, a temporary directory, no persistence), a small
//! datashare HTTP server, CBEFF documents, and a STOMP client playing MOSIP.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// Where Debian's package puts the broker.
pub const ACTIVEMQ_HOME: &str = "/usr/share/activemq";

/// A running broker, killed when dropped.
pub struct Broker {
    child: Child,
    /// The STOMP connector.
    pub stomp: SocketAddr,
    /// The OpenWire (JMS) connector.
    pub openwire: SocketAddr,
    /// Its temporary directory (configuration, data, log).
    pub dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn java() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("java"))
        .find(|p| p.is_file())
}

/// Why the broker cannot run here, if it cannot.
pub fn missing() -> Option<String> {
    let jar = Path::new(ACTIVEMQ_HOME).join("bin/activemq.jar");
    if !jar.is_file() {
        return Some(format!(
            "{} is absent (apt-get install activemq)",
            jar.display()
        ));
    }
    if java().is_none() {
        return Some("no java on PATH (apt-get install activemq brings one)".into());
    }
    None
}

fn tail(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_end(&mut bytes);
    }
    let start = bytes.len().saturating_sub(4000);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// Starts ActiveMQ with only a STOMP and an OpenWire connector on free loopback ports and
/// waits (at most 120 s) until both accept connections; `None` (with the reason printed)
/// when ActiveMQ or Java is not installed.
pub fn start_broker() -> Option<Broker> {
    if let Some(why) = missing() {
        eprintln!("skipping: ActiveMQ cannot run here: {why}");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (stomp_port, openwire_port) = (free_port(), free_port());
    let conf = format!(
        r#"<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="tunggal-test"
          useJmx="false" persistent="false" advisorySupport="false"
          dataDirectory="{data}">
    <systemUsage><systemUsage>
      <memoryUsage><memoryUsage limit="64 mb"/></memoryUsage>
      <tempUsage><tempUsage limit="256 mb"/></tempUsage>
    </systemUsage></systemUsage>
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:{stomp_port}?transport.tcpNoDelay=true"/>
      <transportConnector name="openwire" uri="tcp://127.0.0.1:{openwire_port}"/>
    </transportConnectors>
  </broker>
</beans>
"#,
        data = dir.path().join("data").display()
    );
    let conf_path = dir.path().join("activemq.xml");
    std::fs::write(&conf_path, conf).unwrap();
    let log = dir.path().join("broker.log");
    let out = std::fs::File::create(&log).unwrap();
    let err = out.try_clone().unwrap();
    let home = Path::new(ACTIVEMQ_HOME);
    let child = Command::new(java().unwrap())
        .arg("-Xms64m")
        .arg("-Xmx256m")
        .arg("-XX:+UseSerialGC")
        .arg("-XX:TieredStopAtLevel=1")
        .arg(format!("-Dactivemq.home={}", home.display()))
        .arg(format!("-Dactivemq.base={}", dir.path().display()))
        .arg(format!("-Dactivemq.conf={}", dir.path().display()))
        .arg(format!(
            "-Dactivemq.data={}",
            dir.path().join("data").display()
        ))
        .arg("-jar")
        .arg(home.join("bin/activemq.jar"))
        .arg("start")
        .arg(format!("xbean:file:{}", conf_path.display()))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    let mut broker = Broker {
        child,
        stomp: SocketAddr::from(([127, 0, 0, 1], stomp_port)),
        openwire: SocketAddr::from(([127, 0, 0, 1], openwire_port)),
        dir,
    };
    let started = Instant::now();
    loop {
        let up = |a: &SocketAddr| TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok();
        if up(&broker.stomp) && up(&broker.openwire) {
            eprintln!(
                "ActiveMQ up in {:.1} s (STOMP {}, OpenWire {})",
                started.elapsed().as_secs_f64(),
                broker.stomp,
                broker.openwire
            );
            return Some(broker);
        }
        if let Ok(Some(status)) = broker.child.try_wait() {
            panic!(
                "ActiveMQ exited ({status}) before listening:\n{}",
                tail(&log)
            );
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = broker.child.kill();
            panic!("ActiveMQ did not listen within 120 s:\n{}", tail(&log));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One share the datashare serves: its HTTP status and body.
#[derive(Debug, Clone)]
pub struct Share {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The datashare: GET `/share/{name}` answers the share registered under `name` to a caller
/// sending `Cookie: Authorization=<token>`, 401 to others, 404 for unknown names.
#[derive(Clone)]
pub struct Datashare {
    pub addr: SocketAddr,
    pub token: String,
    shares: Arc<Mutex<HashMap<String, Share>>>,
}

impl Datashare {
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/share/{name}", self.addr)
    }

    /// Registers `body` (status 200) under `name`; returns its URL.
    pub fn put(&self, name: &str, body: Vec<u8>) -> String {
        self.put_status(name, 200, body)
    }

    pub fn put_status(&self, name: &str, status: u16, body: Vec<u8>) -> String {
        self.shares
            .lock()
            .unwrap()
            .insert(name.to_owned(), Share { status, body });
        self.url(name)
    }
}

/// Starts the datashare on a free loopback port (a task of the current runtime).
pub async fn start_datashare(token: &str) -> Datashare {
    use axum::extract::{Path as UrlPath, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;

    type Shares = Arc<Mutex<HashMap<String, Share>>>;
    let shares: Shares = Arc::default();
    let expected = format!("Authorization={token}");
    let app = axum::Router::new()
        .route(
            "/share/{name}",
            get(
                move |State(shares): State<Shares>,
                      UrlPath(name): UrlPath<String>,
                      headers: HeaderMap| {
                    let expected = expected.clone();
                    async move {
                        let authorised = headers
                            .get_all("cookie")
                            .iter()
                            .filter_map(|v| v.to_str().ok())
                            .flat_map(|v| v.split(';'))
                            .any(|c| c.trim() == expected);
                        if !authorised {
                            return (StatusCode::UNAUTHORIZED, Vec::new());
                        }
                        match shares.lock().unwrap().get(&name) {
                            Some(s) => (StatusCode::from_u16(s.status).unwrap(), s.body.clone()),
                            None => (StatusCode::NOT_FOUND, Vec::new()),
                        }
                    }
                },
            ),
        )
        .with_state(shares.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Datashare {
        addr,
        token: token.to_owned(),
        shares,
    }
}

/// One CBEFF sample: BDB format type, modality, subtype, data.
pub struct Sample {
    pub format_type: u32,
    pub kind: &'static str,
    pub subtype: String,
    pub data: Vec<u8>,
}

pub use tunggal::mosip::cbeff::FINGER_SUBTYPES;

impl Sample {
    pub fn finger_minutiae(position: u8, record: Vec<u8>) -> Self {
        Self {
            format_type: 2,
            kind: "Finger",
            subtype: FINGER_SUBTYPES[usize::from(position) - 1].to_owned(),
            data: record,
        }
    }

    pub fn finger_image(position: u8, record: Vec<u8>) -> Self {
        Self {
            format_type: 7,
            kind: "Finger",
            subtype: FINGER_SUBTYPES[usize::from(position) - 1].to_owned(),
            data: record,
        }
    }

    /// An iris sample whose BDB is no ISO/IEC 19794-6 record (it does not decode).
    pub fn iris(eye: &str) -> Self {
        Self {
            format_type: 9,
            kind: "Iris",
            subtype: eye.to_owned(),
            data: b"IIR\x00020\x00 not decoded".to_vec(),
        }
    }

    /// An iris sample of format type 9 (ISO/IEC 19794-6) with `record` as its BDB.
    pub fn iris_image(eye: &str, record: Vec<u8>) -> Self {
        Self {
            format_type: 9,
            kind: "Iris",
            subtype: eye.to_owned(),
            data: record,
        }
    }

    /// A face sample (never read by Tunggal).
    pub fn face() -> Self {
        Self {
            format_type: 8,
            kind: "Face",
            subtype: String::new(),
            data: b"FAC\x00030\x00 not decoded".to_vec(),
        }
    }
}

/// A CBEFF document as MOSIP writes it (BDBs in URL-safe base64 without padding).
pub fn cbeff(samples: &[Sample]) -> Vec<u8> {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <BIR xmlns=\"http://standards.iso.org/iso-iec/19785/-3/ed-2/\">\n\
         <BIRInfo><Integrity>false</Integrity></BIRInfo>\n",
    );
    for s in samples {
        xml.push_str(&format!(
            "<BIR><Version><Major>1</Major><Minor>1</Minor></Version>\
             <CBEFFVersion><Major>1</Major><Minor>1</Minor></CBEFFVersion>\
             <BIRInfo><Integrity>false</Integrity></BIRInfo>\
             <BDBInfo><Format><Organization>Mosip</Organization><Type>{}</Type></Format>\
             <CreationDate>2024-01-01T00:00:00.000Z</CreationDate><Type>{}</Type>\
             <Subtype>{}</Subtype><Level>Raw</Level><Purpose>Enroll</Purpose>\
             <Quality><Algorithm><Organization>HMAC</Organization><Type>SHA-256</Type>\
             </Algorithm><Score>80</Score></Quality></BDBInfo>\
             <BDB>{}</BDB></BIR>\n",
            s.format_type,
            s.kind,
            s.subtype,
            URL_SAFE_NO_PAD.encode(&s.data)
        ));
    }
    xml.push_str("</BIR>\n");
    xml.into_bytes()
}

/// The finger minutiae samples of a wire enrolment request's template fingers.
pub fn minutiae_samples(fingerprints: &[tunggal::enrolment::wire::FingerprintIn]) -> Vec<Sample> {
    fingerprints
        .iter()
        .filter_map(|f| {
            let bytes = STANDARD.decode(f.template.as_ref()?).ok()?;
            Some(Sample::finger_minutiae(f.position as u8, bytes))
        })
        .collect()
}

/// A JSON client of Tunggal's own HTTP API.
pub struct HttpClient {
    addr: SocketAddr,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<hyper::body::Bytes>,
    >,
}

impl HttpClient {
    pub fn new(addr: SocketAddr) -> Self {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        Self { addr, client }
    }

    /// POSTs `body` with the bearer `key`; the answer's JSON.
    pub async fn post_json(
        &self,
        path: &str,
        key: &str,
        body: &serde_json::Value,
    ) -> serde_json::Value {
        use http_body_util::BodyExt as _;
        let req = hyper::Request::post(format!("http://{}{path}", self.addr))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(hyper::body::Bytes::from(
                serde_json::to_vec(body).unwrap(),
            )))
            .unwrap();
        let response = self.client.request(req).await.unwrap();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
    }
}

/// MOSIP's side of the queues: sends requests as JMS text messages would arrive (STOMP
/// `SEND` with `amq-msg-type:text`) and reads the responses.
pub struct MosipClient {
    conn: iridium_stomp::Connection,
    sub: iridium_stomp::Subscription,
    inbound: String,
}

impl MosipClient {
    pub async fn connect(broker: SocketAddr, inbound: &str, outbound: &str) -> Self {
        use tunggal::mosip::transport::queue_destination;
        let conn = iridium_stomp::Connection::connect(
            &broker.to_string(),
            "",
            "",
            iridium_stomp::Connection::NO_HEARTBEAT,
        )
        .await
        .unwrap();
        let sub = conn
            .subscribe(&queue_destination(outbound), iridium_stomp::AckMode::Auto)
            .await
            .unwrap();
        Self {
            conn,
            sub,
            inbound: queue_destination(inbound),
        }
    }

    /// Sends a request (confirmed by the broker).
    pub async fn send(&mut self, body: &serde_json::Value) {
        self.send_bytes(serde_json::to_vec(body).unwrap()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send_bytes(text.as_bytes().to_vec()).await;
    }

    async fn send_bytes(&mut self, body: Vec<u8>) {
        let frame = tunggal::mosip::transport::text_frame(&self.inbound, body);
        self.conn
            .send_frame_confirmed(frame, Duration::from_secs(30))
            .await
            .unwrap();
    }

    /// The next response (at most 180 s).
    pub async fn receive(&mut self) -> serde_json::Value {
        use futures::StreamExt as _;
        let frame = tokio::time::timeout(Duration::from_secs(180), self.sub.next())
            .await
            .expect("a response within 180 s")
            .expect("the subscription is open");
        serde_json::from_slice(&frame.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&frame.body)))
    }

    /// Sends a request and returns the next response.
    pub async fn request(&mut self, body: &serde_json::Value) -> serde_json::Value {
        self.send(body).await;
        self.receive().await
    }

    pub async fn close(self) {
        let _ = self.sub.unsubscribe().await;
        let _ = self.conn.close().await;
    }
}

/// Encrypts `plain` for `public` as MOSIP's datashare does (ABIS API specification,
/// "Reference URL"): with `versioned`, MOSIP 1.2's layout in URL-safe base64
/// (`VER_R2`, thumbprint, RSA-OAEP-SHA256 wrapped AES-256 key, `#KEY_SPLITTER#`, 32 bytes of
/// additional data whose first 12 are the nonce, AES-GCM ciphertext); without, the older
/// layout in standard base64 (no version, the additional data after the ciphertext).
pub fn seal(public: &rsa::RsaPublicKey, plain: &[u8], versioned: bool) -> Vec<u8> {
    use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
    use rand::RngCore as _;
    let mut rng = rand::thread_rng();
    let mut aes_key = [0u8; 32];
    let mut aad = [0u8; 32];
    rng.fill_bytes(&mut aes_key);
    rng.fill_bytes(&mut aad);
    let wrapped = public
        .encrypt(&mut rng, rsa::Oaep::new::<sha2::Sha256>(), &aes_key)
        .unwrap();
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(&aes_key).unwrap();
    let sealed = cipher
        .encrypt(
            aes_gcm::Nonce::from_slice(&aad[..12]),
            Payload {
                msg: plain,
                aad: &aad,
            },
        )
        .unwrap();
    let thumbprint = [0x5au8; 32];
    let mut out = Vec::new();
    if versioned {
        out.extend_from_slice(b"VER_R2");
    }
    out.extend_from_slice(&thumbprint);
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(b"#KEY_SPLITTER#");
    if versioned {
        out.extend_from_slice(&aad);
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out).into_bytes()
    } else {
        out.extend_from_slice(&sealed);
        out.extend_from_slice(&aad);
        STANDARD.encode(out).into_bytes()
    }
}
