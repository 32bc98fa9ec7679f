//! Orders: take one in, read them, move one along its statuses. Each change is written
//! with its history entry and the text it causes, in one transaction.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::once::{Once, OnceError, Ran, RepeatRefused};
use super::texts::Wording;
use super::webhooks::emit_order;
use super::{NotFound, Page, ReadError, Services, StorageError, key_label, next_position};
use crate::domain::{
    Actor, EventType, HistoryEntry, IfMatch, NewOrder, Notification, Order, OrderEdit, OrderField,
    OrderFilter, OrderStatus, Scope, StatusChange,
};
use crate::store::port::OrderError;
use crate::store::writer::WriteError;

/// A new order, and the text it caused (with `notify`).
#[derive(Clone, Debug)]
pub struct Created {
    pub order: Order,
    pub text: Option<Notification>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateOrderError {
    #[error("this key already created an order with external_ref {0:?}")]
    DuplicateExternalRef(String),
    #[error(transparent)]
    Repeat(#[from] RepeatRefused),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A page of orders, newest first, each with the latest text about it.
pub struct OrderPage {
    pub orders: Vec<(Order, Option<Notification>)>,
    /// Where the next page starts (`None` on the last page).
    pub next: Option<i64>,
}

/// A status change as asked for.
#[derive(Clone, Debug)]
pub struct StatusChangeRequest {
    pub order: Uuid,
    pub to: OrderStatus,
    /// `Some(false)`: do not text; `Some(true)`: text even if the status's template is
    /// switched off; `None`: as `ORDER_NOTIFY_AUTO_NOTIFY` says.
    pub notify: Option<bool>,
    /// The time promised with this step (`Some(None)` withdraws it; `None` keeps it).
    pub eta: Option<Option<DateTime<Utc>>>,
    /// Apply only to this version of the order (`If-Match`).
    pub if_match: Option<IfMatch>,
}

/// An order after a status change.
#[derive(Clone, Debug)]
pub struct StatusChanged {
    pub order: Order,
    /// The status it had, when this request changed it (`None`: it already had it).
    pub from: Option<OrderStatus>,
    /// Whether this request changed the promised time.
    pub eta_changed: bool,
    /// The text this change queued.
    pub text: Option<Notification>,
    /// The latest text about the order (this change's, or an earlier one).
    pub last_text: Option<Notification>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeStatusError {
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// `If-Match` named another version.
    #[error("the order is at version {current} now")]
    StaleVersion { current: i32 },
    #[error("cannot change status from {from} to {to}")]
    Forbidden {
        from: OrderStatus,
        to: OrderStatus,
        allowed: &'static [OrderStatus],
    },
    /// Another change to the same order won, every time it was tried.
    #[error("the order was changed by another request at the same moment")]
    ConcurrentChange,
    #[error(transparent)]
    Repeat(#[from] RepeatRefused),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A correction to an order's details, as asked for.
#[derive(Clone, Debug)]
pub struct EditRequest {
    pub order: Uuid,
    pub edit: OrderEdit,
    /// Apply only to this version of the order (`If-Match`).
    pub if_match: Option<IfMatch>,
}

/// An order after an edit.
#[derive(Clone, Debug)]
pub struct Edited {
    pub order: Order,
    /// The fields this edit changed (empty: every given field already had its value).
    pub changed: Vec<OrderField>,
    /// The latest text about the order.
    pub last_text: Option<Notification>,
}

#[derive(Debug, thiserror::Error)]
pub enum EditOrderError {
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// `If-Match` named another version.
    #[error("the order is at version {current} now")]
    StaleVersion { current: i32 },
    /// Another change to the same order won, every time it was tried.
    #[error("the order was changed by another request at the same moment")]
    ConcurrentChange,
    #[error(transparent)]
    Repeat(#[from] RepeatRefused),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What every error of a change to an existing order shares: the storage fault it may
/// carry, that losing a race to a concurrent change is worth another try, and how the
/// store's refusals map onto it.
macro_rules! order_change_error {
    ($error:ident, $what:literal) => {
        impl WriteError for $error {
            fn storage_fault(&self) -> Option<&StorageError> {
                match self {
                    $error::Storage(e) => e.storage_fault(),
                    _ => None,
                }
            }
        }

        impl OnceError for $error {
            fn lost_race(&self) -> bool {
                matches!(self, $error::ConcurrentChange)
            }
        }

        impl From<OrderError> for $error {
            fn from(e: OrderError) -> Self {
                match e {
                    OrderError::ConcurrentChange => $error::ConcurrentChange,
                    OrderError::DuplicateExternalRef(r) => $error::Storage(StorageError::other(
                        format!("{} met a duplicate reference {r:?}", $what),
                    )),
                    OrderError::Storage(e) => $error::Storage(e),
                }
            }
        }
    };
}

order_change_error!(ChangeStatusError, "a status change");
order_change_error!(EditOrderError, "an edit");

impl WriteError for CreateOrderError {
    fn storage_fault(&self) -> Option<&StorageError> {
        match self {
            CreateOrderError::Storage(e) => e.storage_fault(),
            _ => None,
        }
    }
}

impl OnceError for CreateOrderError {
    fn lost_race(&self) -> bool {
        false
    }
}

impl From<OrderError> for CreateOrderError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::DuplicateExternalRef(r) => CreateOrderError::DuplicateExternalRef(r),
            // Inserting a new order races with nobody's version.
            OrderError::ConcurrentChange => CreateOrderError::Storage(StorageError::other(
                "a new order met a concurrent change".to_owned(),
            )),
            OrderError::Storage(e) => CreateOrderError::Storage(e),
        }
    }
}

impl Services {
    /// Takes an order in (`pending`), texting the customer that it was received when
    /// `notify` says so.
    pub async fn create_order(
        &self,
        by: &Actor,
        new: NewOrder,
        notify: bool,
        once: Option<Once<Created>>,
    ) -> Result<Ran<Created>, CreateOrderError> {
        let (this, actor) = (self.clone(), by.clone());
        let interest = self.webhook_interest().await?;
        let ran = self
            .write_once(once, move |txn| {
                let (this, new, actor) = (this.clone(), new.clone(), actor.clone());
                Box::pin(async move {
                    let order = txn.insert_order(new, &actor).await?;
                    emit_order(txn, interest, EventType::OrderCreated, &order, None, None).await?;
                    let text = if notify {
                        let asked = Wording::StatusTemplate { asked: true };
                        this.queue_text(txn, &order, asked, &actor).await?
                    } else {
                        None
                    };
                    Ok::<_, CreateOrderError>(Created { order, text })
                })
            })
            .await?;
        if let Ran::Done { outcome, .. } = &ran {
            self.ring_webhooks(interest, &[EventType::OrderCreated]);
            log::info!(
                "order {} created by key {:?} ({})",
                outcome.order.id,
                by.name,
                key_label(by)
            );
            if outcome.text.is_some() {
                self.outbox.notify_one();
            }
        }
        Ok(ran)
    }

    /// One order the caller may see.
    pub async fn order(&self, scope: Scope, id: Uuid) -> Result<Order, ReadError> {
        self.reads
            .find_order(id, scope)
            .await?
            .ok_or(ReadError::NotFound(NotFound(id)))
    }

    /// The latest text about an order, if any.
    pub async fn last_text(&self, order: Uuid) -> Result<Option<Notification>, StorageError> {
        Ok(self.last_texts(&[order]).await?.remove(&order))
    }

    /// A page of the orders the caller may see, newest first.
    pub async fn list_orders(
        &self,
        scope: Scope,
        filter: &OrderFilter,
    ) -> Result<OrderPage, StorageError> {
        let (found, more) = self.reads.list_orders(filter, scope).await?;
        let next = next_position(&found, more, |o| o.seq);
        let ids: Vec<Uuid> = found.iter().map(|o| o.id).collect();
        let mut last = self.last_texts(&ids).await?;
        let orders = found
            .into_iter()
            .map(|order| {
                let text = last.remove(&order.id);
                (order, text)
            })
            .collect();
        Ok(OrderPage { orders, next })
    }

    /// The order's status history, oldest first.
    pub async fn history(
        &self,
        scope: Scope,
        id: Uuid,
        page: Page,
    ) -> Result<(Vec<HistoryEntry>, Option<i64>), ReadError> {
        let order = self.order(scope, id).await?;
        let (entries, more) = self.reads.history(order.id, page.limit, page.from).await?;
        let next = next_position(&entries, more, |e| e.seq);
        Ok((entries, next))
    }

    /// Moves an order to another status, if the move is allowed (and `If-Match` holds),
    /// with its history entry and, as asked, the text about it. Asking for the status it
    /// already has changes nothing and texts nobody.
    pub async fn change_status(
        &self,
        by: &Actor,
        scope: Scope,
        request: StatusChangeRequest,
        once: Option<Once<StatusChanged>>,
    ) -> Result<Ran<StatusChanged>, ChangeStatusError> {
        let wants_text = request.notify.unwrap_or(self.settings.auto_notify);
        let wording = Wording::StatusTemplate {
            asked: request.notify == Some(true),
        };
        let (this, actor, asked) = (self.clone(), by.clone(), request.clone());
        let interest = self.webhook_interest().await?;
        let ran = self
            .write_once(once, move |txn| {
                let (this, actor, request) = (this.clone(), actor.clone(), asked.clone());
                let wording = wording.clone();
                Box::pin(async move {
                    let id = request.order;
                    let order = txn.find_order(id, scope).await?.ok_or(NotFound(id))?;
                    if let Some(expected) = &request.if_match
                        && !expected.matches(order.version)
                    {
                        return Err(ChangeStatusError::StaleVersion {
                            current: order.version,
                        });
                    }
                    let eta_changed = request.eta.is_some_and(|eta| eta != order.eta);
                    let (order, from, text) = match order.status.change_to(request.to) {
                        // The status it has, with a new promised time: the time
                        // changes as an edit would change it, and nobody is texted.
                        StatusChange::Unchanged if eta_changed => {
                            let edit = OrderEdit {
                                eta: request.eta,
                                ..OrderEdit::default()
                            };
                            let changed = [OrderField::Eta];
                            let order = txn.edit_order(&order, &edit, &changed, &actor).await?;
                            emit_order(
                                txn,
                                interest,
                                EventType::OrderUpdated,
                                &order,
                                None,
                                Some(&changed),
                            )
                            .await?;
                            (order, None, None)
                        }
                        StatusChange::Unchanged => (order, None, None),
                        StatusChange::Forbidden { allowed } => {
                            return Err(ChangeStatusError::Forbidden {
                                from: order.status,
                                to: request.to,
                                allowed,
                            });
                        }
                        StatusChange::Allowed => {
                            let from = order.status;
                            let order = txn
                                .change_status(&order, request.to, request.eta, &actor)
                                .await?;
                            emit_order(
                                txn,
                                interest,
                                EventType::OrderStatusChanged,
                                &order,
                                Some(from),
                                None,
                            )
                            .await?;
                            let text = if wants_text {
                                this.queue_text(txn, &order, wording, &actor).await?
                            } else {
                                None
                            };
                            (order, Some(from), text)
                        }
                    };
                    let last_text = match &text {
                        Some(queued) => Some(queued.clone()),
                        None => txn.latest_texts(&[order.id]).await?.remove(&order.id),
                    };
                    Ok::<_, ChangeStatusError>(StatusChanged {
                        order,
                        from,
                        eta_changed,
                        text,
                        last_text,
                    })
                })
            })
            .await?;
        if let Ran::Done { outcome, .. } = &ran {
            if outcome.from.is_some() {
                self.ring_webhooks(interest, &[EventType::OrderStatusChanged]);
            } else if outcome.eta_changed {
                self.ring_webhooks(interest, &[EventType::OrderUpdated]);
            }
            if let Some(from) = outcome.from {
                self.outbox.notify_one();
                log::info!(
                    "order {} status {from} -> {} by key {:?} ({})",
                    outcome.order.id,
                    outcome.order.status,
                    by.name,
                    key_label(by)
                );
            }
            if outcome.eta_changed {
                log::info!(
                    "order {} promised for {} by key {:?} ({})",
                    outcome.order.id,
                    outcome
                        .order
                        .eta
                        .map_or("no time".to_owned(), |eta| eta.to_rfc3339()),
                    by.name,
                    key_label(by)
                );
            }
        }
        Ok(ran)
    }

    /// Corrects an order's details (its name, phone, items, notes, promised time),
    /// whatever its status, with a
    /// history entry naming what changed. No text is sent: the customer hears of an
    /// order's status, and "Notify customer" texts the corrected number when asked.
    /// Giving every field the value it already has changes nothing.
    pub async fn edit_order(
        &self,
        by: &Actor,
        scope: Scope,
        request: EditRequest,
        once: Option<Once<Edited>>,
    ) -> Result<Ran<Edited>, EditOrderError> {
        let (actor, asked) = (by.clone(), request.clone());
        let interest = self.webhook_interest().await?;
        let ran = self
            .write_once(once, move |txn| {
                let (actor, request) = (actor.clone(), asked.clone());
                Box::pin(async move {
                    let id = request.order;
                    let order = txn.find_order(id, scope).await?.ok_or(NotFound(id))?;
                    if let Some(expected) = &request.if_match
                        && !expected.matches(order.version)
                    {
                        return Err(EditOrderError::StaleVersion {
                            current: order.version,
                        });
                    }
                    let changed = request.edit.changes(&order);
                    let order = if changed.is_empty() {
                        order
                    } else {
                        let order = txn
                            .edit_order(&order, &request.edit, &changed, &actor)
                            .await?;
                        emit_order(
                            txn,
                            interest,
                            EventType::OrderUpdated,
                            &order,
                            None,
                            Some(&changed),
                        )
                        .await?;
                        order
                    };
                    let last_text = txn.latest_texts(&[order.id]).await?.remove(&order.id);
                    Ok::<_, EditOrderError>(Edited {
                        order,
                        changed,
                        last_text,
                    })
                })
            })
            .await?;
        if let Ran::Done { outcome, .. } = &ran
            && !outcome.changed.is_empty()
        {
            self.ring_webhooks(interest, &[EventType::OrderUpdated]);
            let fields: Vec<&str> = outcome.changed.iter().map(|f| f.as_str()).collect();
            log::info!(
                "order {} edited ({}) by key {:?} ({})",
                outcome.order.id,
                fields.join(", "),
                by.name,
                key_label(by)
            );
        }
        Ok(ran)
    }

    async fn last_texts(
        &self,
        ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, Notification>, StorageError> {
        self.reads.latest_texts(ids).await
    }
}
