//! Reading the change log (`changes`, written by triggers) in commit order, for
//! `GET /events`. A position in the log is a [`Cursor`]; clients see it as the SSE
//! event id and hand it back as `Last-Event-ID` to resume.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

use super::entities::changes;
pub use super::port::{Change, ChangeKind, Cursor};

fn to_change(row: changes::Model) -> Result<Change, DbErr> {
    let corrupt = |what: String| DbErr::Custom(format!("change {} is invalid: {what}", row.id));
    let missing = |what: &str| corrupt(format!("no {what}"));
    let kind = match row.kind.as_str() {
        "order" => ChangeKind::Order {
            order_id: row.order_id.ok_or_else(|| missing("order id"))?,
            status: row.status.parse().map_err(|e| corrupt(format!("{e}")))?,
            version: row.version.unwrap_or(1),
        },
        "notification" => ChangeKind::Notification {
            order_id: row.order_id.ok_or_else(|| missing("order id"))?,
            id: row
                .notification_id
                .ok_or_else(|| missing("notification id"))?,
            state: row.status.parse().map_err(|e| corrupt(format!("{e}")))?,
        },
        "key" => ChangeKind::KeyRevoked {
            key_id: row.owner.ok_or_else(|| missing("key id"))?,
        },
        other => return Err(corrupt(format!("unknown kind {other:?}"))),
    };
    Ok(Change {
        cursor: Cursor {
            txid: row.txid,
            id: row.id,
        },
        owner: row.owner,
        kind,
        at: row.at,
    })
}

/// Rows every reader may take on PostgreSQL: those written by transactions older than
/// the oldest one still running. A row of a transaction still open (or of one that
/// began earlier and commits later) is held back until it can no longer be overtaken.
const POSTGRES_SETTLED: &str = "txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

/// Up to `limit` changes after `cursor`, in commit order.
pub async fn after(
    db: &impl ConnectionTrait,
    cursor: Cursor,
    limit: u64,
) -> Result<Vec<Change>, DbErr> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let statement = match db.get_database_backend() {
        DbBackend::Postgres => Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT * FROM changes WHERE (txid, id) > ($1, $2) AND {POSTGRES_SETTLED} \
                 ORDER BY txid, id LIMIT $3"
            ),
            [cursor.txid.into(), cursor.id.into(), limit.into()],
        ),
        backend => Statement::from_sql_and_values(
            backend,
            "SELECT * FROM changes WHERE id > ? ORDER BY id LIMIT ?",
            [cursor.id.into(), limit.into()],
        ),
    };
    changes::Entity::find()
        .from_raw_sql(statement)
        .all(db)
        .await?
        .into_iter()
        .map(to_change)
        .collect()
}

/// The position of the newest change every reader may take; (0, 0) for an empty log.
pub async fn latest(db: &impl ConnectionTrait) -> Result<Cursor, DbErr> {
    let statement = match db.get_database_backend() {
        DbBackend::Postgres => Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT * FROM changes WHERE {POSTGRES_SETTLED} ORDER BY txid DESC, id DESC LIMIT 1"
            ),
        ),
        backend => {
            Statement::from_string(backend, "SELECT * FROM changes ORDER BY id DESC LIMIT 1")
        }
    };
    Ok(changes::Entity::find()
        .from_raw_sql(statement)
        .one(db)
        .await?
        .map(|row| Cursor {
            txid: row.txid,
            id: row.id,
        })
        .unwrap_or_default())
}

/// Whether a client resuming from `cursor` can be given everything after it: the row
/// it names is still kept (or it names the start of a log nothing was pruned from).
pub async fn can_resume_from(db: &impl ConnectionTrait, cursor: Cursor) -> Result<bool, DbErr> {
    if cursor == Cursor::default() {
        let first = changes::Entity::find()
            .order_by_asc(changes::Column::Id)
            .limit(1)
            .one(db)
            .await?;
        return Ok(first.is_some_and(|row| row.id == 1));
    }
    Ok(changes::Entity::find_by_id(cursor.id)
        .filter(changes::Column::Txid.eq(cursor.txid))
        .one(db)
        .await?
        .is_some())
}

/// Forgets changes older than `before`; returns how many.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    changes::Entity::delete_many()
        .filter(changes::Column::At.lt(before))
        .exec(db)
        .await
        .map(|r| r.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn cursors_read_back_what_they_print_and_refuse_anything_else() {
        let cursor = Cursor { txid: 812, id: 40 };
        assert_eq!(cursor.to_string(), "812-40");
        assert_eq!("812-40".parse::<Cursor>(), Ok(cursor));
        assert_eq!("0-0".parse::<Cursor>(), Ok(Cursor::default()));
        for bad in [
            "",
            "40",
            "a-1",
            "1-",
            "-1-2",
            "1--2",
            "+1-2",
            "1-2-3",
            "99999999999999999999-1",
        ] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cursors_order_by_transaction_then_row() {
        let a = Cursor { txid: 5, id: 9 };
        let b = Cursor { txid: 6, id: 2 };
        assert!(a < b);
        assert!(Cursor { txid: 6, id: 3 } > b);
    }
}
