//! Analyst sessions: a random token in an HttpOnly, SameSite=Strict cookie, mapped in memory
//! to the analyst's principal and a per-session CSRF token. Sessions end on log-out, after
//! [`SESSION_SECS`], when the server restarts, or at the first request after the analyst's
//! key is revoked, rotated or expires (every request checks the key in the store).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;

use super::AppState;
use crate::access::keys::{now_secs, KeyCheck, Principal};
use crate::cases::Actor;
use crate::problem::{Problem, Reason};

/// Cookie holding the session token.
pub const SESSION_COOKIE: &str = "tgl_review";
/// Cookie holding the log-in form's CSRF token (before a session exists).
pub const LOGIN_COOKIE: &str = "tgl_review_login";
/// How long a session lasts, in seconds (one working day).
pub const SESSION_SECS: u64 = 10 * 3_600;

/// A random URL-safe token with 256 bits of entropy.
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A logged-in analyst.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub principal: Principal,
    /// The token every form of this session must carry.
    pub csrf: String,
    /// Seconds since the Unix epoch when the session ends.
    pub expires: u64,
}

impl Session {
    /// The analyst as the case store records them.
    pub fn actor(&self) -> Actor {
        Actor {
            key_id: self.principal.key_id.clone(),
            name: self.principal.name.clone(),
            owner: self.principal.owner.clone(),
        }
    }

    /// Whether `csrf` is this session's token.
    pub fn csrf_ok(&self, csrf: Option<&str>) -> bool {
        csrf.is_some_and(|c| same_token(c, &self.csrf))
    }
}

/// Live sessions by token.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Starts a session for `principal`; returns its token.
    pub fn start(&self, principal: Principal) -> String {
        let now = now_secs();
        let id = token();
        let session = Session {
            principal,
            csrf: token(),
            expires: now + SESSION_SECS,
        };
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.expires > now);
        map.insert(id.clone(), session);
        id
    }

    /// The live session with this token.
    pub fn get(&self, id: &str) -> Option<Session> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id).filter(|s| s.expires > now_secs()).cloned()
    }

    /// Ends the session with this token.
    pub fn end(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

/// The value of cookie `name` in the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value scoped to `/review`, HttpOnly and SameSite=Strict.
pub fn set_cookie(name: &str, value: &str, max_age: u64) -> String {
    format!("{name}={value}; Path=/review; HttpOnly; SameSite=Strict; Max-Age={max_age}")
}

/// The session of the request (extractor): without one, a redirect to the log-in page.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// The session token.
    pub id: String,
    /// The session.
    pub session: Session,
}

impl FromRequestParts<AppState> for LoggedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/review/login").into_response();
        let sessions = parts
            .extensions
            .get::<std::sync::Arc<Sessions>>()
            .cloned()
            .ok_or_else(to_login)?;
        let id = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(to_login)?;
        let session = sessions.get(id).ok_or_else(to_login)?;
        let (keys, key_id) = (state.keys.clone(), session.principal.key_id.clone());
        let live = tokio::task::spawn_blocking(move || keys.check_id(&key_id))
            .await
            .ok()
            .and_then(Result::ok);
        if !matches!(live, Some(KeyCheck::Valid(ref who)) if who.role.reviews()) {
            sessions.end(id);
            return Err(to_login());
        }
        Ok(Self {
            id: id.to_owned(),
            session,
        })
    }
}

/// An analyst's session for what the pages load beside their HTML (images), extractor:
/// without one, `401` problem+json instead of the pages' redirect to the log-in form.
#[derive(Debug, Clone)]
pub struct Analyst(pub Session);

impl FromRequestParts<AppState> for Analyst {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match LoggedIn::from_request_parts(parts, state).await {
            Ok(LoggedIn { session, .. }) => Ok(Self(session)),
            Err(_) => Err(Problem::new(
                Reason::Unauthorized,
                "this resource needs an analyst's session: log in at /review/login",
            )
            .into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::keys::Role;

    #[test]
    fn sessions_and_tokens() {
        let sessions = Sessions::default();
        let id = sessions.start(Principal {
            key_id: "k".into(),
            name: "Ana".into(),
            role: Role::Analyst,
            district: None,
            service_point: None,
            owner: "ana".into(),
        });
        let s = sessions.get(&id).unwrap();
        assert!(s.csrf_ok(Some(&s.csrf.clone())));
        assert!(!s.csrf_ok(Some("x")));
        assert!(!s.csrf_ok(None));
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; tgl_review=abc".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
