//! The order workflow: five statuses and the changes allowed between them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where an order is in its life. `delivered` and `cancelled` are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Delayed,
    Delivered,
    Cancelled,
}

/// What asking for a new status means for an order in a given status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusChange {
    /// The order already has that status: nothing to write, nothing to send.
    Unchanged,
    /// An allowed move to a different status.
    Allowed,
    /// The rules forbid it; `allowed` lists the statuses the order may move to.
    Forbidden { allowed: &'static [OrderStatus] },
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] = [
        OrderStatus::Pending,
        OrderStatus::Confirmed,
        OrderStatus::Delayed,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Delayed => "delayed",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// The statuses an order in this status may move to, in workflow order.
    pub fn next_statuses(self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            Pending => &[Confirmed, Delayed, Cancelled],
            Confirmed => &[Delayed, Delivered, Cancelled],
            Delayed => &[Confirmed, Delivered, Cancelled],
            Delivered | Cancelled => &[],
        }
    }

    pub fn is_final(self) -> bool {
        self.next_statuses().is_empty()
    }

    pub fn change_to(self, target: OrderStatus) -> StatusChange {
        if self == target {
            StatusChange::Unchanged
        } else if self.next_statuses().contains(&target) {
            StatusChange::Allowed
        } else {
            StatusChange::Forbidden {
                allowed: self.next_statuses(),
            }
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown status {0:?}: expected one of pending, confirmed, delayed, delivered, cancelled")]
pub struct UnknownStatus(pub String);

impl FromStr for OrderStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    /// The contract's table, written out pair by pair so a change to the rules has to
    /// change this list too.
    const ALLOWED: [(OrderStatus, OrderStatus); 9] = [
        (Pending, Confirmed),
        (Pending, Delayed),
        (Pending, Cancelled),
        (Confirmed, Delayed),
        (Confirmed, Delivered),
        (Confirmed, Cancelled),
        (Delayed, Confirmed),
        (Delayed, Delivered),
        (Delayed, Cancelled),
    ];

    #[test]
    fn every_pair_of_statuses_follows_the_contract() {
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let verdict = from.change_to(to);
                if from == to {
                    assert_eq!(verdict, StatusChange::Unchanged, "{from} -> {to}");
                } else if ALLOWED.contains(&(from, to)) {
                    assert_eq!(verdict, StatusChange::Allowed, "{from} -> {to}");
                } else {
                    match verdict {
                        StatusChange::Forbidden { allowed } => {
                            assert!(!allowed.contains(&to), "{from} -> {to}");
                            let expected: Vec<_> = ALLOWED
                                .iter()
                                .filter(|(f, _)| *f == from)
                                .map(|(_, t)| *t)
                                .collect();
                            assert_eq!(allowed, expected.as_slice(), "{from} -> {to}");
                        }
                        other => panic!("{from} -> {to} should be forbidden, got {other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn only_delivered_and_cancelled_are_final() {
        let finals: Vec<_> = OrderStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(finals, vec![Delivered, Cancelled]);
    }

    #[test]
    fn names_round_trip_through_text_and_json() {
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse::<OrderStatus>().unwrap(), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{status}\""));
            assert_eq!(serde_json::from_str::<OrderStatus>(&json).unwrap(), status);
        }
        assert!("Pending".parse::<OrderStatus>().is_err());
        assert!("shipped".parse::<OrderStatus>().is_err());
        assert!(serde_json::from_str::<OrderStatus>("\"shipped\"").is_err());
    }
}
