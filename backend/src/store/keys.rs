//! API keys: generation, hashing, lookup and revocation. The secret itself is never
//! stored; only its SHA-256 hash is, which is enough because the secret has 256 bits of
//! randomness (no salt or slow hash is needed against guessing).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use chrono::{DateTime, Utc};

use super::entities::{api_keys, stream_tokens};
pub use super::port::{KeySource, Revocation};
use crate::domain::{ApiKey, AuditAction, NewAuditEntry, Role, hash_secret};

/// Every generated secret starts with this, so a leaked key is easy to recognise
/// (and to search for in code and logs).
pub const SECRET_PREFIX: &str = "onk_";

/// Stream tokens (`GET /events?token=…`) start with this one.
pub const STREAM_TOKEN_PREFIX: &str = "ons_";

/// 32 random bytes from the OS generator, base64url, behind the recognisable prefix.
pub fn generate_secret() -> String {
    random_secret(SECRET_PREFIX)
}

fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn display_prefix(secret: &str) -> String {
    secret.chars().take(8).collect()
}

fn to_key(model: api_keys::Model) -> Result<ApiKey, DbErr> {
    let role = model
        .role
        .parse()
        .map_err(|e| DbErr::Custom(format!("api key {}: {e}", model.id)))?;
    Ok(ApiKey {
        id: model.id,
        name: model.name,
        role,
        prefix: model.prefix,
        source: model.source,
        created_at: model.created_at,
        last_used_at: model.last_used_at,
    })
}

async fn insert_key(
    db: &impl ConnectionTrait,
    name: &str,
    role: Role,
    source: KeySource,
    secret: &str,
) -> Result<ApiKey, DbErr> {
    let model = api_keys::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(name.to_owned()),
        role: Set(role.as_str().to_owned()),
        secret_hash: Set(hash_secret(secret)),
        prefix: Set(display_prefix(secret)),
        source: Set(source.as_str().to_owned()),
        created_at: Set(super::now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    to_key(model)
}

/// Creates a key and returns it with its secret: the only time the secret exists
/// outside the caller's hands.
pub async fn create_key(
    db: &impl ConnectionTrait,
    name: &str,
    role: Role,
    source: KeySource,
) -> Result<(ApiKey, String), DbErr> {
    let secret = generate_secret();
    let key = insert_key(db, name, role, source, &secret).await?;
    Ok((key, secret))
}

/// Finds the active key with this secret. The lookup goes by hash, and the stored hash
/// is compared again in constant time, so response timing says nothing about how close
/// a guess was.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    secret: &str,
) -> Result<Option<ApiKey>, DbErr> {
    find_active_by_hash(db, &hash_secret(secret)).await
}

/// The active key whose secret has this SHA-256 (hex).
pub async fn find_active_by_hash(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<ApiKey>, DbErr> {
    let found = api_keys::Entity::find()
        .filter(api_keys::Column::SecretHash.eq(hash))
        .filter(api_keys::Column::RevokedAt.is_null())
        .one(db)
        .await?;
    match found {
        Some(model) if bool::from(model.secret_hash.as_bytes().ct_eq(hash.as_bytes())) => {
            to_key(model).map(Some)
        }
        _ => Ok(None),
    }
}

/// Records that the key `id` was used at `at`.
pub async fn touch(db: &impl ConnectionTrait, id: Uuid, at: DateTime<Utc>) -> Result<(), DbErr> {
    api_keys::Entity::update_many()
        .col_expr(
            api_keys::Column::LastUsedAt,
            sea_orm::sea_query::Expr::value(at),
        )
        .filter(api_keys::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Whether the key exists and has not been revoked.
pub async fn is_active(db: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    Ok(api_keys::Entity::find_by_id(id)
        .filter(api_keys::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .is_some())
}

/// A token that stands in for `key_id` on `GET /events` until `expires_at`, for clients
/// such as a browser's EventSource that cannot send an Authorization header. Stored as
/// a hash like the keys themselves; it only opens the stream.
pub async fn create_stream_token(
    db: &impl ConnectionTrait,
    key_id: Uuid,
    ttl: std::time::Duration,
) -> Result<(String, DateTime<Utc>), DbErr> {
    let token = random_secret(STREAM_TOKEN_PREFIX);
    let expires_at =
        super::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60));
    stream_tokens::ActiveModel {
        token_hash: Set(hash_secret(&token)),
        key_id: Set(key_id),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    Ok((token, expires_at))
}

/// The active key behind an unexpired stream token.
pub async fn authenticate_stream_token(
    db: &impl ConnectionTrait,
    token: &str,
) -> Result<Option<ApiKey>, DbErr> {
    if !token.starts_with(STREAM_TOKEN_PREFIX) {
        return Ok(None);
    }
    let hash = hash_secret(token);
    let Some(found) = stream_tokens::Entity::find_by_id(hash.as_str())
        .filter(stream_tokens::Column::ExpiresAt.gt(super::now()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if !bool::from(found.token_hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Ok(None);
    }
    api_keys::Entity::find_by_id(found.key_id)
        .filter(api_keys::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .map(to_key)
        .transpose()
}

/// Forgets stream tokens that have expired.
pub async fn purge_expired_stream_tokens(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    stream_tokens::Entity::delete_many()
        .filter(stream_tokens::Column::ExpiresAt.lte(super::now()))
        .exec(db)
        .await
        .map(|r| r.rows_affected)
}

pub async fn list_active(db: &impl ConnectionTrait) -> Result<Vec<ApiKey>, DbErr> {
    api_keys::Entity::find()
        .filter(api_keys::Column::RevokedAt.is_null())
        .order_by_asc(api_keys::Column::CreatedAt)
        .order_by_asc(api_keys::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(to_key)
        .collect()
}

pub async fn count_active(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    api_keys::Entity::find()
        .filter(api_keys::Column::RevokedAt.is_null())
        .count(db)
        .await
}

/// Revokes a key, unless it is the last active admin key. Run it inside a writing
/// transaction (the writer's): it counts the admin keys before it writes.
pub async fn revoke(txn: &impl ConnectionTrait, id: Uuid) -> Result<Revocation, DbErr> {
    let Some(key) = api_keys::Entity::find_by_id(id)
        .filter(api_keys::Column::RevokedAt.is_null())
        .one(txn)
        .await?
    else {
        return Ok(Revocation::NotFound);
    };
    if key.source == KeySource::Env.as_str() {
        return Ok(Revocation::FromConfiguration);
    }
    if key.role == Role::Admin.as_str() {
        let admins = api_keys::Entity::find()
            .filter(api_keys::Column::RevokedAt.is_null())
            .filter(api_keys::Column::Role.eq(Role::Admin.as_str()))
            .count(txn)
            .await?;
        if admins <= 1 {
            return Ok(Revocation::LastAdmin);
        }
    }
    let mut active: api_keys::ActiveModel = key.into();
    active.revoked_at = Set(Some(super::now()));
    active.update(txn).await?;
    Ok(Revocation::Revoked)
}

/// Makes sure an active admin key with exactly this secret exists (ORDER_NOTIFY_ADMIN_KEY),
/// and retires keys that an earlier value of the variable created.
pub async fn ensure_env_admin_key(db: &DatabaseConnection, secret: &str) -> Result<(), DbErr> {
    let txn = super::begin_write(db).await?;
    let hash = hash_secret(secret);
    let now = super::now();
    let retired = api_keys::Entity::find()
        .filter(api_keys::Column::Source.eq(KeySource::Env.as_str()))
        .filter(api_keys::Column::SecretHash.ne(hash.as_str()))
        .filter(api_keys::Column::RevokedAt.is_null())
        .all(&txn)
        .await?;
    for model in retired {
        let id = model.id;
        let mut active: api_keys::ActiveModel = model.into();
        active.revoked_at = Set(Some(now));
        active.update(&txn).await?;
        super::audit::record(
            &txn,
            &configuration_entry(
                AuditAction::KeyRevoked,
                id,
                "its secret is no longer ORDER_NOTIFY_ADMIN_KEY",
            ),
        )
        .await?;
    }
    let existing = api_keys::Entity::find()
        .filter(api_keys::Column::SecretHash.eq(hash.as_str()))
        .one(&txn)
        .await?;
    match existing {
        Some(model) if model.revoked_at.is_none() && model.role == Role::Admin.as_str() => {}
        Some(model) => {
            let mut active: api_keys::ActiveModel = model.into();
            active.role = Set(Role::Admin.as_str().to_owned());
            active.revoked_at = Set(None);
            active.update(&txn).await?;
        }
        None => {
            let key = insert_key(
                &txn,
                "ORDER_NOTIFY_ADMIN_KEY",
                Role::Admin,
                KeySource::Env,
                secret,
            )
            .await?;
            super::audit::record(
                &txn,
                &configuration_entry(
                    AuditAction::KeyCreated,
                    key.id,
                    "\"ORDER_NOTIFY_ADMIN_KEY\", role admin",
                ),
            )
            .await?;
        }
    }
    txn.commit().await
}

/// The first admin key of an empty database, with its audit entry; its secret is
/// shown once.
pub async fn create_first_key(db: &DatabaseConnection) -> Result<(ApiKey, String), DbErr> {
    let txn = super::begin_write(db).await?;
    let (key, secret) = create_key(
        &txn,
        "first-start admin",
        Role::Admin,
        KeySource::FirstStart,
    )
    .await?;
    let entry = NewAuditEntry {
        actor: "first start".to_owned(),
        key_id: None,
        action: AuditAction::KeyCreated,
        subject: key.id.to_string(),
        detail: Some("\"first-start admin\", role admin: the database had no key".to_owned()),
    };
    super::audit::record(&txn, &entry).await?;
    txn.commit().await?;
    Ok((key, secret))
}

/// An audit entry for what the start did because of ORDER_NOTIFY_ADMIN_KEY.
fn configuration_entry(action: AuditAction, key: Uuid, detail: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor: "configuration (ORDER_NOTIFY_ADMIN_KEY)".to_owned(),
        key_id: None,
        action,
        subject: key.to_string(),
        detail: Some(detail.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_recognisable() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
