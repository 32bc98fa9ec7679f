//! Message templates as stored: a row per status an admin has edited; every other
//! status uses its default text, enabled.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};

use super::entities::templates;
use crate::domain::{OrderStatus, StatusTemplate, Template};

fn from_row(row: templates::Model) -> Result<StatusTemplate, DbErr> {
    let status = row
        .status
        .parse()
        .map_err(|e| DbErr::Custom(format!("templates row: {e}")))?;
    let template = Template::parse(&row.body)
        .map_err(|e| DbErr::Custom(format!("the stored {status} template: {e}")))?;
    Ok(StatusTemplate {
        status,
        template,
        enabled: row.enabled,
    })
}

fn default_for(status: OrderStatus) -> StatusTemplate {
    StatusTemplate {
        status,
        template: Template::default_for(status),
        enabled: true,
    }
}

/// One template per status, in workflow order.
pub async fn list_templates(db: &impl ConnectionTrait) -> Result<Vec<StatusTemplate>, DbErr> {
    let rows = templates::Entity::find().all(db).await?;
    let mut stored = rows
        .into_iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OrderStatus::ALL
        .into_iter()
        .map(
            |status| match stored.iter().position(|t| t.status == status) {
                Some(i) => stored.swap_remove(i),
                None => default_for(status),
            },
        )
        .collect())
}

pub async fn find_template(
    db: &impl ConnectionTrait,
    status: OrderStatus,
) -> Result<StatusTemplate, DbErr> {
    match templates::Entity::find_by_id(status.as_str().to_owned())
        .one(db)
        .await?
    {
        Some(row) => from_row(row),
        None => Ok(default_for(status)),
    }
}

/// Stores the template for a status, replacing any earlier one.
pub async fn save_template(
    db: &impl ConnectionTrait,
    status: OrderStatus,
    template: &Template,
    enabled: bool,
    actor: &str,
) -> Result<StatusTemplate, DbErr> {
    let row = templates::ActiveModel {
        status: Set(status.as_str().to_owned()),
        body: Set(template.body().to_owned()),
        enabled: Set(enabled),
        updated_by: Set(actor.to_owned()),
        updated_at: Set(super::now()),
    };
    templates::Entity::insert(row)
        .on_conflict(
            OnConflict::column(templates::Column::Status)
                .update_columns([
                    templates::Column::Body,
                    templates::Column::Enabled,
                    templates::Column::UpdatedBy,
                    templates::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(StatusTemplate {
        status,
        template: template.clone(),
        enabled,
    })
}
