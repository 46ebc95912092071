//! The `api_tokens` table: scoped tokens for the API, kept as SHA-256 hashes only, and the
//! `audit_log` table: who changed what through the API, when, and with what result.

use rusqlite::{OptionalExtension as _, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{Store, StoreError, clip, now};

/// The most audit entries kept; older ones are dropped as new ones come.
pub const MAX_AUDIT_ENTRIES: i64 = 100_000;

/// The longest token name, in bytes.
const MAX_TOKEN_NAME_BYTES: usize = 64;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read-only: `GET` routes and read-only tools.
    Read,
    /// Everything the operator token may do except managing tokens.
    Operate,
}

impl Scope {
    /// The word used in the store, the API and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Operate => "operate",
        }
    }

    /// The scope named `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Read, Self::Operate]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// Whether this scope includes `needed`.
    pub fn allows(self, needed: Scope) -> bool {
        self == Self::Operate || needed == Self::Read
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scoped token as listed: never its value, which is shown once, when it is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// The token's name, unique.
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    /// When it was created (Unix seconds).
    pub created_at: i64,
    /// When it was last used (Unix seconds), if ever.
    pub last_used_at: Option<i64>,
}

/// One audited call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Increasing in the order calls finished.
    pub id: i64,
    /// When (Unix seconds).
    pub at: i64,
    /// Who: `admin` (the operator token) or `token:<name>`.
    pub who: String,
    /// What: the method and path, e.g. `POST /api/plugins`.
    pub action: String,
    /// The HTTP status of the answer.
    pub status: u16,
}

/// The hash a token is stored and looked up by.
fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Store {
    /// Stores a new scoped token named `name` whose value is `token` (kept as its hash).
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidToken`] when the name is empty, too long, has characters other
    /// than letters, digits, `-`, `_` and `.`, or is taken.
    pub async fn create_token(
        &self,
        name: &str,
        scope: Scope,
        token: &str,
    ) -> Result<TokenRecord, StoreError> {
        let invalid = |reason: &str| StoreError::InvalidToken {
            name: clip(name),
            reason: reason.to_owned(),
        };
        if name.is_empty() || name.len() > MAX_TOKEN_NAME_BYTES {
            return Err(invalid("a name has 1 to 64 characters"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(invalid("use letters, digits, `-`, `_` and `.`"));
        }
        let (name, digest, created_at) = (name.to_owned(), hash(token), now());
        self.write(move |tx, _| {
            let taken = tx
                .prepare_cached("SELECT 1 FROM api_tokens WHERE name = ?1")?
                .query_row([&name], |_| Ok(()))
                .optional()?
                .is_some();
            if taken {
                return Err(StoreError::InvalidToken {
                    name: clip(&name),
                    reason: "a token of that name exists; revoke it first or pick another name"
                        .into(),
                });
            }
            tx.prepare_cached(
                "INSERT INTO api_tokens (name, scope, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![name, scope.as_str(), digest, created_at])?;
            Ok(TokenRecord {
                name,
                scope,
                created_at,
                last_used_at: None,
            })
        })
        .await
    }

    /// The token whose value is `token`, marked as used now; `None` when there is none.
    ///
    /// The lookup is by the value's SHA-256, so no stored secret is ever compared byte by
    /// byte with what a caller sent.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn use_token(&self, token: &str) -> Result<Option<TokenRecord>, StoreError> {
        let digest = hash(token);
        self.write(move |tx, _| {
            let found = tx
                .prepare_cached("SELECT name, scope, created_at FROM api_tokens WHERE hash = ?1")?
                .query_row([&digest], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
                })
                .optional()?;
            let Some((name, scope, created_at)) = found else {
                return Ok(None);
            };
            let scope = Scope::parse(&scope).ok_or_else(|| StoreError::Corrupt {
                what: format!("scope of token {}", clip(&name)),
                reason: format!("unknown value {scope:?}"),
            })?;
            let used = now();
            tx.prepare_cached("UPDATE api_tokens SET last_used_at = ?2 WHERE name = ?1")?
                .execute(params![name, used])?;
            Ok(Some(TokenRecord {
                name,
                scope,
                created_at,
                last_used_at: Some(used),
            }))
        })
        .await
    }

    /// Every scoped token, by name; never a value.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.run(|conn, _| {
            let rows = conn
                .prepare_cached(
                    "SELECT name, scope, created_at, last_used_at FROM api_tokens ORDER BY name",
                )?
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get(2)?,
                        r.get(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(name, scope, created_at, last_used_at)| {
                    let scope = Scope::parse(&scope).ok_or_else(|| StoreError::Corrupt {
                        what: format!("scope of token {}", clip(&name)),
                        reason: format!("unknown value {scope:?}"),
                    })?;
                    Ok(TokenRecord {
                        name,
                        scope,
                        created_at,
                        last_used_at,
                    })
                })
                .collect()
        })
        .await
    }

    /// Revokes the token named `name`: it stops working at once. Returns whether it existed.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(move |tx, _| {
            Ok(tx
                .prepare_cached("DELETE FROM api_tokens WHERE name = ?1")?
                .execute([&name])?
                > 0)
        })
        .await
    }

    /// Records an audited call, dropping the oldest entries past [`MAX_AUDIT_ENTRIES`].
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn audit(&self, who: &str, action: &str, status: u16) -> Result<(), StoreError> {
        let (who, action) = (clip(who), clip_action(action));
        self.write(move |tx, _| {
            tx.prepare_cached(
                "INSERT INTO audit_log (at, who, action, status) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![now(), who, action, status])?;
            let id = tx.last_insert_rowid();
            if id % 1000 == 0 {
                tx.prepare_cached("DELETE FROM audit_log WHERE id <= ?1")?
                    .execute([id - MAX_AUDIT_ENTRIES])?;
            }
            Ok(())
        })
        .await
    }

    /// The last `limit` audited calls, newest first.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |conn, _| {
            Ok(conn
                .prepare_cached(
                    "SELECT id, at, who, action, status FROM audit_log ORDER BY id DESC LIMIT ?1",
                )?
                .query_map([limit], |r| {
                    Ok(AuditEntry {
                        id: r.get(0)?,
                        at: r.get(1)?,
                        who: r.get(2)?,
                        action: r.get(3)?,
                        status: r.get(4)?,
                    })
                })?
                .collect::<Result<_, _>>()?)
        })
        .await
    }
}

/// An action as recorded: at most 512 characters.
fn clip_action(action: &str) -> String {
    action.chars().take(512).collect()
}
