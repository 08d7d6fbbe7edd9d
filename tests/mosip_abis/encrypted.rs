//! Encrypted shares: a listener configured with the ABIS partner's private key (loaded from
//! PEM, as `TUNGGAL_MOSIP_DATASHARE_KEY_FILE` is) on queues of its own. The test encrypts
//! each CBEFF with the public key as MOSIP's datashare does; the listener opens it. An
//! envelope that does not open (altered, wrapped for another key, not an envelope) is
//! refused with 16, "invalid CBEFF format".

use std::sync::Arc;
use std::time::Duration;

use rsa::pkcs8::EncodePrivateKey as _;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::json;
use tunggal::mosip::envelope::ShareKey;
use tunggal::mosip::handler::Abis;
use tunggal::mosip::{transport, MosipConfig};
use tunggal_datasets::population::Population;

use crate::harness::*;
use crate::support::*;

pub async fn encrypted_shares(broker: &Broker, share: Datashare) {
    let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let public = RsaPublicKey::from(&private);
    let pem = private.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    let key = ShareKey::from_pem(&pem).expect("a PKCS#8 PEM key loads");

    let dir = tempfile::tempdir().unwrap();
    let engine = open_engine(dir.path()).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut config = MosipConfig::new(&broker.stomp.to_string());
    config.inbound = "encrypted-to-abis".to_owned();
    config.outbound = "abis-to-encrypted".to_owned();
    config.datashare_token = Some(TOKEN.to_owned());
    config.datashare_key = Some(Arc::new(key));
    let abis = Abis::new(
        engine.clone(),
        config.origin.clone(),
        transport::datashare(&config).unwrap(),
    );
    let listener = tokio::spawn(transport::run(abis, config.clone(), stopped));
    let mosip = MosipClient::connect(broker.stomp, &config.inbound, &config.outbound).await;
    let mut s = Suite {
        mosip,
        share,
        engine,
        next: 1000,
    };

    // Person P's first capture in MOSIP 1.2's layout, the second in the older one: both
    // open, and the second capture finds the first.
    let pop = Population::new(SEED);
    let p0 = s
        .share
        .put("enc-p0", seal(&public, &synthetic_cbeff(&pop, 40, 0), true));
    let p1 = s.share.put(
        "enc-p1",
        seal(&public, &synthetic_cbeff(&pop, 40, 1), false),
    );
    assert_success(&s.insert("enc-p0", &p0).await, "insert");
    assert_success(&s.insert("enc-p1", &p1).await, "insert");
    let r = s.identify("enc-p1", json!({})).await;
    assert_success(&r, "identify");
    assert_eq!(candidates(&r), vec!["enc-p0"], "{r}");
    // A plain CBEFF share is still read.
    let plain = s.share.put("enc-plain", synthetic_cbeff(&pop, 41, 0));
    assert_success(&s.insert("enc-plain", &plain).await, "insert");

    // 16: an altered envelope, one wrapped for another key, and text that is no envelope.
    let mut altered = seal(&public, &synthetic_cbeff(&pop, 42, 0), true);
    let n = altered.len();
    altered[n - 3] = if altered[n - 3] == b'A' { b'B' } else { b'A' };
    let altered = s.share.put("enc-altered", altered);
    assert_failure(
        &s.insert("enc-n1", &altered).await,
        16,
        "an altered envelope",
    );
    let other = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let foreign = seal(
        &RsaPublicKey::from(&other),
        &synthetic_cbeff(&pop, 43, 0),
        true,
    );
    let foreign = s.share.put("enc-foreign", foreign);
    assert_failure(
        &s.insert("enc-n2", &foreign).await,
        16,
        "an envelope for another key",
    );
    let junk = s.share.put("enc-junk", b"bm90IGFuIGVudmVsb3Bl".to_vec());
    assert_failure(&s.insert("enc-n3", &junk).await, 16, "not an envelope");
    let r = s.op("referenceCount", json!({})).await;
    assert_eq!(r["count"], "3", "{r}");

    let Suite { mosip, .. } = s;
    mosip.close().await;
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(30), listener)
        .await
        .expect("the listener stops when told")
        .unwrap();
}
