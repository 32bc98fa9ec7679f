//! The audit trail: who created or revoked a key, changed a status's text, or let a
//! number that texted STOP receive texts again, and when. Each entry is written in the
//! same transaction as the change it records, so neither is kept without the other.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Actor;

/// What an audit entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditAction {
    KeyCreated,
    KeyRevoked,
    TemplateSaved,
    OptOutLifted,
}

impl AuditAction {
    pub const ALL: [AuditAction; 4] = [
        AuditAction::KeyCreated,
        AuditAction::KeyRevoked,
        AuditAction::TemplateSaved,
        AuditAction::OptOutLifted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::KeyCreated => "key.created",
            AuditAction::KeyRevoked => "key.revoked",
            AuditAction::TemplateSaved => "template.saved",
            AuditAction::OptOutLifted => "opt_out.lifted",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditAction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
                format!("must be one of {}, not {s:?}", names.join(", "))
            })
    }
}

/// An entry about to be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// A key's name, or who else acted (a customer's START through a provider).
    pub actor: String,
    /// The key that acted, when a key did.
    pub key_id: Option<Uuid>,
    pub action: AuditAction,
    /// What it was done to: a key's id, a status, a phone number.
    pub subject: String,
    /// What else there is to know (the new key's name and role, the text saved …).
    pub detail: Option<String>,
}

impl NewAuditEntry {
    /// `actor` (a key) did `action` to `subject`.
    pub fn by(
        actor: &Actor,
        action: AuditAction,
        subject: impl Into<String>,
        detail: Option<String>,
    ) -> NewAuditEntry {
        NewAuditEntry {
            actor: actor.name.clone(),
            key_id: actor.key_id,
            action,
            subject: subject.into(),
            detail,
        }
    }

    /// The customer with number `phone` texted START through `via` (a provider).
    pub fn start_from_customer(phone: &str, via: &str) -> NewAuditEntry {
        NewAuditEntry {
            actor: format!("customer (START via {via})"),
            key_id: None,
            action: AuditAction::OptOutLifted,
            subject: phone.to_owned(),
            detail: Some(format!(
                "{phone} texted START through a signed {via} callback"
            )),
        }
    }
}

/// An entry as kept: `seq` orders the trail (and is where a page of it ends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub key_id: Option<Uuid>,
    pub action: AuditAction,
    pub subject: String,
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_back_from_their_names() {
        for action in AuditAction::ALL {
            assert_eq!(action.as_str().parse::<AuditAction>(), Ok(action));
        }
        assert!("key.deleted".parse::<AuditAction>().is_err());
    }
}
