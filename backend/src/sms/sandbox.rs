//! The default provider: it "sends" by storing the text, shown at
//! `GET /sandbox/messages`, so the product works end to end without an SMS account.

use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};
use uuid::Uuid;

use super::{OutgoingSms, Provider, SendOutcome};
use crate::store::entities::sandbox_messages;

pub struct SandboxProvider {
    db: DatabaseConnection,
}

impl SandboxProvider {
    pub fn new(db: DatabaseConnection) -> Self {
        SandboxProvider { db }
    }
}

#[async_trait::async_trait]
impl Provider for SandboxProvider {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn send(&self, sms: &OutgoingSms) -> SendOutcome {
        let id = Uuid::now_v7();
        let stored = sandbox_messages::ActiveModel {
            id: Set(id),
            notification_id: Set(sms.reference),
            recipient: Set(sms.recipient.clone()),
            originator: Set(sms.originator.clone()),
            body: Set(sms.body.clone()),
            encoding: Set(sms.encoding.as_str().to_owned()),
            segments: Set(i32::try_from(sms.segments).unwrap_or(i32::MAX)),
            created_at: Set(crate::store::now()),
            ..Default::default()
        }
        .insert(&self.db)
        .await;
        match stored {
            Ok(_) => SendOutcome::Accepted {
                provider_message_id: format!("sandbox-{id}"),
            },
            Err(e) => SendOutcome::Retry {
                reason: format!("the sandbox could not store the text: {e}"),
                after: None,
            },
        }
    }
}
