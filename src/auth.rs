//! Authentication and roles: users from the fixtures, their fixed bearer tokens,
//! tokens issued by `POST /api/token`, Basic credentials, and the role each endpoint
//! needs. Secrets are compared in constant time and never logged; a refusal never
//! says whether a user exists.

use std::collections::{HashMap, VecDeque};
use std::sync::RwLock;

use base64::Engine;
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::fixtures::User;

/// Lifetime written in token responses (the mock does not expire tokens).
pub const TOKEN_EXPIRES_IN: u64 = 86_400;
/// Issued tokens kept; the oldest are forgotten beyond this, so a client looping on
/// `POST /api/token` cannot grow memory without bound.
const MAX_ISSUED: usize = 10_000;

/// A permission an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Create,
    List,
    Read,
    Edit,
    Delete,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Create => "CoworkerSetting-Create",
            Role::List => "CoworkerSetting-List",
            Role::Read => "CoworkerSetting-Read",
            Role::Edit => "CoworkerSetting-Edit",
            Role::Delete => "CoworkerSetting-Delete",
        }
    }
}

/// Why a request was refused; each becomes a 401 whose body says which.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    #[error(
        "Authorization has been denied for this request: no Authorization header was sent. Send 'Authorization: Bearer <token>' or 'Authorization: Basic <base64(email:password)>'."
    )]
    Missing,
    #[error(
        "Authorization has been denied for this request: the Authorization header is malformed; expected 'Bearer <token>' or 'Basic <base64(email:password)>'."
    )]
    Malformed,
    #[error("Authorization has been denied for this request: the bearer token is not valid.")]
    UnknownToken,
    #[error("Authorization has been denied for this request: the e-mail or password is incorrect.")]
    BadCredentials,
    #[error(
        "Authorization has been denied for this request: the user is not a full administrator and lacks the {0} role."
    )]
    MissingRole(&'static str),
}

/// A successful password or refresh grant.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenGrant {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
}

#[derive(Default)]
struct Issued {
    access: HashMap<String, usize>,
    refresh: HashMap<String, usize>,
    order: VecDeque<(String, String)>,
}

/// The users and every token that names one of them.
pub struct Auth {
    users: Vec<User>,
    /// Tokens from `POST /api/token`; std lock, never held across an await.
    issued: RwLock<Issued>,
}

impl Auth {
    pub fn new(users: Vec<User>) -> Self {
        Auth {
            users,
            issued: RwLock::new(Issued::default()),
        }
    }

    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// Resolves the `Authorization` header to a user.
    pub fn authenticate(&self, header: Option<&[u8]>) -> Result<&User, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let header = std::str::from_utf8(header)
            .map_err(|_| AuthError::Malformed)?
            .trim();
        let (scheme, rest) = header.split_once(' ').ok_or(AuthError::Malformed)?;
        let rest = rest.trim();
        if rest.is_empty() {
            return Err(AuthError::Malformed);
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            self.user_for_token(rest).ok_or(AuthError::UnknownToken)
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| AuthError::Malformed)?;
            let decoded = String::from_utf8(decoded).map_err(|_| AuthError::Malformed)?;
            let (email, password) = decoded.split_once(':').ok_or(AuthError::Malformed)?;
            self.check_password(email, password)
                .ok_or(AuthError::BadCredentials)
        } else {
            Err(AuthError::Malformed)
        }
    }

    /// Checks that `user` may do what `role` guards.
    pub fn authorize(user: &User, role: Role) -> Result<(), AuthError> {
        if user.full_admin || user.roles.iter().any(|r| r == role.name()) {
            Ok(())
        } else {
            Err(AuthError::MissingRole(role.name()))
        }
    }

    fn user_for_token(&self, token: &str) -> Option<&User> {
        // Fixed tokens: compare against every user in constant time, no early exit.
        let mut found = None;
        for (i, u) in self.users.iter().enumerate() {
            if bool::from(u.token.as_bytes().ct_eq(token.as_bytes())) {
                found = Some(i);
            }
        }
        // Issued tokens are random 128-bit values looked up by hash: timing reveals
        // nothing useful about a guess.
        let found = found.or_else(|| self.read_issued().access.get(token).copied());
        found.map(|i| &self.users[i])
    }

    /// A user whose e-mail and password both match. The password is compared even
    /// when no user has that e-mail, so timing does not reveal which users exist.
    pub fn check_password(&self, email: &str, password: &str) -> Option<&User> {
        let user = self
            .users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email));
        let expected = user
            .map(|u| u.password.as_bytes())
            .unwrap_or(b"\0no-such-user\0");
        let ok = bool::from(expected.ct_eq(password.as_bytes()));
        user.filter(|_| ok)
    }

    /// `grant_type=password`.
    pub fn password_grant(&self, email: &str, password: &str) -> Option<TokenGrant> {
        let user = self.check_password(email, password)?;
        let index = self.users.iter().position(|u| std::ptr::eq(u, user))?;
        Some(self.issue(index))
    }

    /// `grant_type=refresh_token`: trades a refresh token for new tokens (single use).
    pub fn refresh_grant(&self, refresh_token: &str) -> Option<TokenGrant> {
        let index = self.write_issued().refresh.remove(refresh_token)?;
        Some(self.issue(index))
    }

    fn issue(&self, user: usize) -> TokenGrant {
        let access_token = uuid::Uuid::new_v4().simple().to_string();
        let refresh_token = uuid::Uuid::new_v4().simple().to_string();
        let mut issued = self.write_issued();
        issued.access.insert(access_token.clone(), user);
        issued.refresh.insert(refresh_token.clone(), user);
        issued
            .order
            .push_back((access_token.clone(), refresh_token.clone()));
        while issued.order.len() > MAX_ISSUED {
            if let Some((a, r)) = issued.order.pop_front() {
                issued.access.remove(&a);
                issued.refresh.remove(&r);
            }
        }
        TokenGrant {
            access_token,
            token_type: "bearer",
            expires_in: TOKEN_EXPIRES_IN,
            refresh_token,
        }
    }

    fn read_issued(&self) -> std::sync::RwLockReadGuard<'_, Issued> {
        self.issued.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_issued(&self) -> std::sync::RwLockWriteGuard<'_, Issued> {
        self.issued.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::Fixtures;

    fn auth() -> Auth {
        Auth::new(Fixtures::builtin().users)
    }

    fn basic(s: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
        .into_bytes()
    }

    #[test]
    fn bearer_and_basic_both_identify_the_user() {
        let a = auth();
        assert_eq!(
            a.authenticate(Some(b"Bearer admin-token")).unwrap().email,
            "admin@example.com"
        );
        assert_eq!(
            a.authenticate(Some(&basic("reader@example.com:reader-password")))
                .unwrap()
                .email,
            "reader@example.com"
        );
    }

    #[test]
    fn refusals_do_not_reveal_whether_a_user_exists() {
        let a = auth();
        let unknown = a
            .authenticate(Some(&basic("ghost@example.com:x")))
            .unwrap_err();
        let wrong = a
            .authenticate(Some(&basic("admin@example.com:x")))
            .unwrap_err();
        assert_eq!(unknown.to_string(), wrong.to_string());
        assert_eq!(a.authenticate(Some(b"Bearer")), Err(AuthError::Malformed));
        assert_eq!(
            a.authenticate(Some(b"Token abc")),
            Err(AuthError::Malformed)
        );
        assert_eq!(a.authenticate(None), Err(AuthError::Missing));
    }

    #[test]
    fn issued_tokens_work_and_refresh_tokens_are_single_use() {
        let a = auth();
        let g = a
            .password_grant("reader@example.com", "reader-password")
            .unwrap();
        let header = format!("Bearer {}", g.access_token);
        assert_eq!(
            a.authenticate(Some(header.as_bytes())).unwrap().email,
            "reader@example.com"
        );
        assert!(a.refresh_grant(&g.refresh_token).is_some());
        assert!(a.refresh_grant(&g.refresh_token).is_none());
        assert!(a.password_grant("reader@example.com", "nope").is_none());
    }
}
