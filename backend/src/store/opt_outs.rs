//! The numbers that texted STOP: no text goes to them until they text START (or an admin
//! lifts it).

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QueryOrder, Set};

use super::entities::opt_outs;
use crate::domain::OptOut;

pub async fn is_opted_out(db: &impl ConnectionTrait, phone: &str) -> Result<bool, DbErr> {
    Ok(opt_outs::Entity::find_by_id(phone.to_owned())
        .one(db)
        .await?
        .is_some())
}

pub async fn list_opt_outs(db: &impl ConnectionTrait) -> Result<Vec<OptOut>, DbErr> {
    Ok(opt_outs::Entity::find()
        .order_by_desc(opt_outs::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|row| OptOut {
            phone: row.phone,
            source: row.source,
            created_at: row.created_at,
        })
        .collect())
}

/// Lets a number receive texts again; whether it had opted out.
pub async fn remove_opt_out(db: &impl ConnectionTrait, phone: &str) -> Result<bool, DbErr> {
    let deleted = opt_outs::Entity::delete_by_id(phone.to_owned())
        .exec(db)
        .await?;
    Ok(deleted.rows_affected == 1)
}

/// Records that a number texted STOP (again is fine).
pub async fn add_opt_out(
    db: &impl ConnectionTrait,
    phone: &str,
    source: &str,
) -> Result<(), DbErr> {
    let row = opt_outs::ActiveModel {
        phone: Set(phone.to_owned()),
        source: Set(source.to_owned()),
        created_at: Set(super::now()),
    };
    opt_outs::Entity::insert(row)
        .on_conflict_do_nothing_on([opt_outs::Column::Phone])
        .exec(db)
        .await
        .map(|_| ())
}
