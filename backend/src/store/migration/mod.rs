//! Schema migrations, applied in order by `order-notify migrate` and at every start.
//! Later features add tables in new migrations; existing ones are never edited.

use sea_orm_migration::prelude::*;

mod m20261125_000001_core;
mod m20261125_000002_notifications;
mod m20261125_000003_changes;
mod m20261129_000004_heartbeat;
mod m20261130_000005_order_edits;
mod m20261130_000006_sending_limits;
mod m20261130_000007_audit;
mod m20261130_000008_kitchen;
mod m20261201_000009_provider_calls;
mod m20261201_000010_attempts;
mod m20261202_000011_webhooks_out;

pub use m20261125_000003_changes::CHANGES_CHANNEL;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_core::Migration),
            Box::new(m20261125_000002_notifications::Migration),
            Box::new(m20261125_000003_changes::Migration),
            Box::new(m20261129_000004_heartbeat::Migration),
            Box::new(m20261130_000005_order_edits::Migration),
            Box::new(m20261130_000006_sending_limits::Migration),
            Box::new(m20261130_000007_audit::Migration),
            Box::new(m20261130_000008_kitchen::Migration),
            Box::new(m20261201_000009_provider_calls::Migration),
            Box::new(m20261201_000010_attempts::Migration),
            Box::new(m20261202_000011_webhooks_out::Migration),
        ]
    }
}
