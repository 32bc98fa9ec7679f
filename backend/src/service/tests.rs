//! The use cases below HTTP, on a real SQLite file with the real migrations: what a
//! status change writes, the one text recipe, STOP, and repeats.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

use super::*;
use crate::domain::{
    Actor, CustomerName, DeliveryReport, EventType, IfMatch, NewOrder, NotificationState,
    OrderEdit, OrderField, OrderItems, OrderStatus, PhoneNumber, Scope, Template,
};
use crate::metrics::Metrics;
use crate::store::writer::Writer;

/// Services on a fresh SQLite file (kept while the value lives).
struct Kitchen {
    _dir: tempfile::TempDir,
    db: DatabaseConnection,
    services: Services,
    staff: Actor,
}

async fn kitchen(settings: &[(&str, &str)]) -> Kitchen {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
    let db = crate::store::connect(&url).await.unwrap();
    crate::store::migrate(&db).await.unwrap();
    let mut env = HashMap::from([("ORDER_NOTIFY_DATABASE_URL".to_owned(), url.clone())]);
    for (name, value) in settings {
        env.insert(format!("ORDER_NOTIFY_{name}"), (*value).to_owned());
    }
    let settings = Arc::new(Settings::load(&env, None).unwrap());
    let writer = Writer::new(
        db.clone(),
        &url,
        &crate::config::PoolSettings::default(),
        Arc::new(Metrics::default()),
    )
    .unwrap();
    let services = Services::new(
        Arc::new(db.clone()),
        writer,
        Arc::new(Notify::new()),
        Arc::new(Metrics::default()),
        settings,
    );
    Kitchen {
        _dir: dir,
        db,
        services,
        staff: Actor {
            key_id: Some(uuid::Uuid::now_v7()),
            name: "tablet".to_owned(),
            role: crate::domain::Role::Staff,
        },
    }
}

fn new_order(phone: &str) -> NewOrder {
    NewOrder {
        customer_name: CustomerName::parse("Ada Lovelace").unwrap(),
        phone: PhoneNumber::parse(phone, None).unwrap(),
        items: OrderItems::parse(&[("Margherita".to_owned(), 2)]).unwrap(),
        external_ref: None,
        notes: None,
        eta: None,
    }
}

fn done<T>(ran: Ran<T>) -> T {
    match ran {
        Ran::Done { outcome, .. } => outcome,
        Ran::Replayed(_) => panic!("ran before"),
    }
}

fn to(order: uuid::Uuid, status: OrderStatus, notify: Option<bool>) -> StatusChangeRequest {
    StatusChangeRequest {
        order,
        to: status,
        notify,
        eta: None,
        if_match: None,
    }
}

impl Kitchen {
    async fn order(&self, phone: &str) -> crate::domain::Order {
        let created = self
            .services
            .create_order(&self.staff, new_order(phone), false, None);
        done(created.await.unwrap()).order
    }

    async fn change(
        &self,
        request: StatusChangeRequest,
    ) -> Result<StatusChanged, ChangeStatusError> {
        let ran = self
            .services
            .change_status(&self.staff, Scope::All, request, None);
        ran.await.map(done)
    }

    /// Puts a text in `state`, as the worker would after talking to the provider.
    async fn set_state(&self, text: uuid::Uuid, state: &str, provider_id: Option<&str>) {
        use crate::store::entities::notifications as texts;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        let updated = texts::Entity::update_many()
            .col_expr(texts::Column::State, Expr::value(state))
            .col_expr(texts::Column::Attempts, Expr::value(1))
            .col_expr(texts::Column::ProviderMessageId, Expr::value(provider_id))
            .filter(texts::Column::Id.eq(text))
            .exec(&self.db)
            .await
            .unwrap();
        assert_eq!(updated.rows_affected, 1);
    }

    /// What is kept of an order: its status and version, and how many history entries
    /// and texts it has.
    async fn kept(&self, order: uuid::Uuid) -> (OrderStatus, i32, usize, usize) {
        let kept = self.services.order(Scope::All, order).await.unwrap();
        let history = self
            .services
            .history(Scope::All, order, Page::first(200))
            .await
            .unwrap()
            .0;
        let texts = self.texts(order).await;
        (kept.status, kept.version, history.len(), texts.len())
    }

    async fn texts(&self, order: uuid::Uuid) -> Vec<crate::domain::Notification> {
        self.services
            .texts_for_order(Scope::All, order, Page::first(200))
            .await
            .unwrap()
            .0
    }
}

#[tokio::test]
async fn a_status_change_writes_the_status_its_history_and_exactly_one_text() {
    let k = kitchen(&[]).await;
    let order = k.order("+31612345601").await;
    assert!(k.texts(order.id).await.is_empty(), "no text without notify");

    let changed = k
        .change(to(order.id, OrderStatus::Confirmed, None))
        .await
        .unwrap();
    assert_eq!(changed.from, Some(OrderStatus::Pending));
    assert_eq!(changed.order.status, OrderStatus::Confirmed);
    assert_eq!(changed.order.version, 2);
    let text = changed.text.expect("the confirmed text");
    assert_eq!(text.recipient, "+31612345601");
    assert_eq!(text.order_status, OrderStatus::Confirmed);
    assert_eq!(text.state, NotificationState::Queued);
    let order_ref = short(&order);
    assert!(
        text.body.contains("Ada") && text.body.contains(&order_ref),
        "{}",
        text.body
    );
    assert_eq!(changed.last_text.map(|t| t.id), Some(text.id));

    let kept = k.services.order(Scope::All, order.id).await.unwrap();
    assert_eq!((kept.status, kept.version), (OrderStatus::Confirmed, 2));
    let history = k
        .services
        .history(Scope::All, order.id, Page::first(200))
        .await
        .unwrap()
        .0;
    let steps: Vec<_> = history.iter().map(|e| (e.from, e.to)).collect();
    assert_eq!(
        steps,
        [
            (None, OrderStatus::Pending),
            (Some(OrderStatus::Pending), OrderStatus::Confirmed)
        ]
    );
    assert_eq!(history[1].actor, "tablet");
    assert_eq!(k.texts(order.id).await.len(), 1);
}

#[tokio::test]
async fn the_status_an_order_already_has_changes_nothing_and_texts_nobody() {
    let k = kitchen(&[]).await;
    let order = k.order("+31612345602").await;
    let same = k
        .change(to(order.id, OrderStatus::Pending, Some(true)))
        .await
        .unwrap();
    assert_eq!((same.from, same.order.version), (None, 1));
    assert!(same.text.is_none());
    assert_eq!(k.kept(order.id).await, (OrderStatus::Pending, 1, 1, 0));
}

#[tokio::test]
async fn a_forbidden_change_names_the_allowed_statuses_and_writes_nothing() {
    let k = kitchen(&[]).await;
    let order = k.order("+31612345603").await;
    for status in [OrderStatus::Confirmed, OrderStatus::Delivered] {
        k.change(to(order.id, status, Some(false))).await.unwrap();
    }
    let refused = k.change(to(order.id, OrderStatus::Confirmed, None)).await;
    match refused {
        Err(ChangeStatusError::Forbidden { from, to, allowed }) => {
            assert_eq!((from, to), (OrderStatus::Delivered, OrderStatus::Confirmed));
            assert!(allowed.is_empty(), "delivered is final: {allowed:?}");
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    let pending = k.order("+31612345613").await;
    match k.change(to(pending.id, OrderStatus::Delivered, None)).await {
        Err(ChangeStatusError::Forbidden { allowed, .. }) => assert_eq!(
            allowed,
            [
                OrderStatus::Confirmed,
                OrderStatus::Delayed,
                OrderStatus::Cancelled
            ]
        ),
        other => panic!("expected Forbidden, got {other:?}"),
    }
    assert_eq!(k.kept(order.id).await, (OrderStatus::Delivered, 3, 3, 0));
}

#[tokio::test]
async fn a_change_to_an_old_version_or_another_keys_order_is_refused() {
    let k = kitchen(&[]).await;
    let order = k.order("+31612345604").await;
    let mut first = to(order.id, OrderStatus::Confirmed, Some(false));
    first.if_match = Some(IfMatch::new("\"v1\""));
    k.change(first).await.unwrap();

    let mut late = to(order.id, OrderStatus::Delayed, None);
    late.if_match = Some(IfMatch::new("\"v1\""));
    assert!(matches!(
        k.change(late).await,
        Err(ChangeStatusError::StaleVersion { current: 2 })
    ));

    let elsewhere = Scope::CreatedBy(uuid::Uuid::now_v7());
    let request = to(order.id, OrderStatus::Delayed, None);
    let ran = k.services.change_status(&k.staff, elsewhere, request, None);
    assert!(matches!(ran.await, Err(ChangeStatusError::NotFound(_))));
    let kept = k.services.order(Scope::All, order.id).await.unwrap();
    assert_eq!((kept.status, kept.version), (OrderStatus::Confirmed, 2));
}

fn edit(order: uuid::Uuid, phone: Option<&str>, items: Option<&[(&str, i64)]>) -> EditRequest {
    EditRequest {
        order,
        edit: OrderEdit {
            customer_name: None,
            phone: phone.map(|p| PhoneNumber::parse(p, None).unwrap()),
            items: items.map(|items| {
                let raw: Vec<(String, i64)> =
                    items.iter().map(|(n, q)| ((*n).to_owned(), *q)).collect();
                OrderItems::parse(&raw).unwrap()
            }),
            ..OrderEdit::default()
        },
        if_match: None,
    }
}

impl Kitchen {
    async fn edit(&self, scope: Scope, request: EditRequest) -> Result<Edited, EditOrderError> {
        let ran = self.services.edit_order(&self.staff, scope, request, None);
        ran.await.map(done)
    }
}

#[tokio::test]
async fn an_edit_corrects_the_details_keeps_the_status_records_what_changed_and_texts_nobody() {
    let k = kitchen(&[]).await;
    let order = k.order("+31612345621").await;
    k.change(to(order.id, OrderStatus::Confirmed, Some(false)))
        .await
        .unwrap();

    let request = edit(order.id, Some("+31 6 1234 5622"), Some(&[("Calzone", 1)]));
    let edited = k.edit(Scope::All, request).await.unwrap();
    assert_eq!(edited.changed, [OrderField::Phone, OrderField::Items]);
    assert_eq!(edited.order.phone.as_str(), "+31612345622");
    assert_eq!(edited.order.items.as_slice()[0].name, "Calzone");
    assert_eq!(
        edited.order.customer_name, "Ada Lovelace",
        "not given, kept"
    );
    assert_eq!(
        (edited.order.status, edited.order.version),
        (OrderStatus::Confirmed, 3)
    );

    let kept = k.services.order(Scope::All, order.id).await.unwrap();
    assert_eq!(kept, edited.order, "what was answered is what was kept");
    let history = k
        .services
        .history(Scope::All, order.id, Page::first(200))
        .await
        .unwrap()
        .0;
    let last = history.last().unwrap();
    let confirmed = Some(OrderStatus::Confirmed);
    assert_eq!((last.from, Some(last.to)), (confirmed, confirmed));
    assert_eq!(last.changed, [OrderField::Phone, OrderField::Items]);
    assert_eq!(last.actor, "tablet");
    assert!(
        history[1].changed.is_empty(),
        "a status change names no fields"
    );
    assert!(k.texts(order.id).await.is_empty(), "an edit texts nobody");

    // The same values again change nothing: no version, no history entry.
    let request = edit(order.id, Some("+31612345622"), Some(&[("Calzone", 1)]));
    let again = k.edit(Scope::All, request).await.unwrap();
    assert!(again.changed.is_empty());
    assert_eq!(k.kept(order.id).await, (OrderStatus::Confirmed, 3, 3, 0));

    // The next status text goes to the corrected number.
    let delayed = k.change(to(order.id, OrderStatus::Delayed, None)).await;
    let text = delayed.unwrap().text.expect("the delayed text");
    assert_eq!(text.recipient, "+31612345622");
}

#[tokio::test]
async fn an_edit_to_an_old_version_or_another_keys_order_is_refused_and_changes_nothing() {
    let k = kitchen(&[]).await;
    let order = k.order("+31612345623").await;
    let mut stale = edit(order.id, Some("+31612345624"), None);
    stale.if_match = Some(IfMatch::new("\"v7\""));
    assert!(matches!(
        k.edit(Scope::All, stale).await,
        Err(EditOrderError::StaleVersion { current: 1 })
    ));
    let elsewhere = Scope::CreatedBy(uuid::Uuid::now_v7());
    let request = edit(order.id, Some("+31612345624"), None);
    assert!(matches!(
        k.edit(elsewhere, request).await,
        Err(EditOrderError::NotFound(_))
    ));
    assert_eq!(k.kept(order.id).await, (OrderStatus::Pending, 1, 1, 0));
    let kept = k.services.order(Scope::All, order.id).await.unwrap();
    assert_eq!(kept.phone.as_str(), "+31612345623");
}

#[tokio::test]
async fn a_text_longer_than_ten_sms_is_never_sent() {
    let k = kitchen(&[]).await;
    let order = k.order("+31612345641").await;
    // 142 item lists: no fixed words, so the template saves, but every text is long.
    let flood = Template::parse(&"{items}".repeat(142)).unwrap();
    assert!(flood.fixed_text().body().is_empty());
    let saved = k
        .services
        .save_template(&k.staff, OrderStatus::Confirmed, flood.clone(), true)
        .await;
    assert!(saved.is_ok(), "{saved:?}");

    // The status still changes; its text is recorded cancelled with the reason.
    let changed = k.change(to(order.id, OrderStatus::Confirmed, None)).await;
    let changed = changed.unwrap();
    assert_eq!(changed.order.status, OrderStatus::Confirmed);
    let text = changed.text.expect("a record of the held text");
    assert_eq!(text.state, NotificationState::Cancelled);
    let reason = text.last_error.clone().unwrap();
    assert!(reason.contains("at most 10 are sent"), "{reason}");
    // Asked for again: held the same way, and said so.
    let asked = k
        .services
        .notify_customer(&k.staff, Scope::All, order.id, None, None)
        .await;
    assert!(matches!(done(asked.unwrap()), Notified::Held(_)));
    // Own words that render that long are refused outright, and nothing is kept.
    let own = k
        .services
        .notify_customer(&k.staff, Scope::All, order.id, Some(flood), None)
        .await;
    assert!(matches!(own, Err(NotifyError::TooLong(_))));
    assert_eq!(k.texts(order.id).await.len(), 2);
    assert!(
        k.texts(order.id)
            .await
            .iter()
            .all(|t| t.state == NotificationState::Cancelled)
    );

    // A template whose own words alone are too long is not saved.
    let essay = Template::parse(&"ж".repeat(700)).unwrap();
    let refused = k
        .services
        .save_template(&k.staff, OrderStatus::Delayed, essay, true)
        .await;
    assert!(
        matches!(refused, Err(SaveTemplateError::TooLong(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn one_number_gets_at_most_its_hourly_texts() {
    let k = kitchen(&[("TEXTS_PER_RECIPIENT_PER_HOUR", "3")]).await;
    let order = k.order("+31612345651").await;
    let notify = || {
        k.services
            .notify_customer(&k.staff, Scope::All, order.id, None, None)
    };
    for _ in 0..3 {
        assert!(matches!(done(notify().await.unwrap()), Notified::Queued(_)));
    }
    match notify().await {
        Err(NotifyError::Limit {
            kind: "recipient",
            reason,
            retry_after,
        }) => {
            assert!(reason.contains("at most 3 are sent"), "{reason}");
            let hour = std::time::Duration::from_secs(3600);
            assert!(
                retry_after <= hour && retry_after > hour / 2,
                "{retry_after:?}"
            );
        }
        other => panic!("expected the limit, got {:?}", other.err()),
    }
    assert_eq!(
        k.texts(order.id).await.len(),
        3,
        "the refused one is not kept"
    );

    // The automatic text of a status change is held back; the change goes through.
    let changed = k.change(to(order.id, OrderStatus::Confirmed, None)).await;
    let changed = changed.unwrap();
    assert_eq!(changed.order.status, OrderStatus::Confirmed);
    let held = changed.text.expect("a record of the held text");
    assert_eq!(held.state, NotificationState::Cancelled);
    assert!(held.last_error.unwrap().contains("in the last hour"));

    // Another number is not affected.
    let other = k.order("+31612345652").await;
    let ran = k
        .services
        .notify_customer(&k.staff, Scope::All, other.id, None, None)
        .await;
    assert!(matches!(done(ran.unwrap()), Notified::Queued(_)));
}

#[tokio::test]
async fn an_integration_key_causes_at_most_its_daily_texts() {
    let k = kitchen(&[("TEXTS_PER_KEY_PER_DAY", "2")]).await;
    let shop = Actor {
        key_id: Some(uuid::Uuid::now_v7()),
        name: "webshop".to_owned(),
        role: crate::domain::Role::Integration,
    };
    let mut orders = Vec::new();
    for phone in ["+31612345661", "+31612345662", "+31612345663"] {
        let created = k.services.create_order(&shop, new_order(phone), true, None);
        orders.push(done(created.await.unwrap()));
    }
    let states: Vec<_> = orders
        .iter()
        .map(|o| o.text.as_ref().unwrap().state)
        .collect();
    use NotificationState::{Cancelled, Queued};
    assert_eq!(
        states,
        [Queued, Queued, Cancelled],
        "the third is held back"
    );
    let reason = orders[2].text.as_ref().unwrap().last_error.clone().unwrap();
    assert!(reason.contains("at most 2 a day"), "{reason}");

    let asked = k
        .services
        .notify_customer(&shop, Scope::All, orders[0].order.id, None, None)
        .await;
    match asked {
        Err(NotifyError::Limit {
            kind, retry_after, ..
        }) => {
            assert_eq!(kind, "key");
            assert!(retry_after <= std::time::Duration::from_secs(86_400));
        }
        other => panic!("expected the key's limit, got {:?}", other.err()),
    }
    // The kitchen's own keys have no daily limit.
    let staff = k
        .services
        .notify_customer(&k.staff, Scope::All, orders[0].order.id, None, None)
        .await;
    assert!(matches!(done(staff.unwrap()), Notified::Queued(_)));
}

#[tokio::test]
async fn a_switched_off_template_stops_the_automatic_text_but_not_an_asked_for_one() {
    let k = kitchen(&[]).await;
    let words = Template::parse("{first_name}, we have your order {order_ref}.").unwrap();
    crate::store::templates::save_template(&k.db, OrderStatus::Confirmed, &words, false, "test")
        .await
        .unwrap();
    let (quiet, asked, muted) = (
        k.order("+31612345605").await,
        k.order("+31612345606").await,
        k.order("+31612345607").await,
    );
    let automatic = k.change(to(quiet.id, OrderStatus::Confirmed, None)).await;
    assert!(automatic.unwrap().text.is_none());
    let explicit = k
        .change(to(asked.id, OrderStatus::Confirmed, Some(true)))
        .await;
    let text = explicit.unwrap().text.expect("asked for in so many words");
    assert_eq!(
        text.body,
        format!("Ada, we have your order {}.", short(&asked))
    );
    // Enabled again: `notify: false` still keeps it quiet.
    crate::store::templates::save_template(&k.db, OrderStatus::Confirmed, &words, true, "test")
        .await
        .unwrap();
    k.services.templates.forget();
    let off = k
        .change(to(muted.id, OrderStatus::Confirmed, Some(false)))
        .await;
    assert!(off.unwrap().text.is_none());
    for order in [quiet.id, muted.id] {
        assert!(k.texts(order).await.is_empty());
    }
}

/// What `{order_ref}` says for an order without an external reference.
fn short(order: &crate::domain::Order) -> String {
    crate::domain::short_ref(order.id)
}

#[tokio::test]
async fn auto_notify_off_texts_only_when_asked() {
    let k = kitchen(&[("AUTO_NOTIFY", "false")]).await;
    let (a, b) = (k.order("+31612345608").await, k.order("+31612345609").await);
    let quiet = k.change(to(a.id, OrderStatus::Confirmed, None)).await;
    assert!(quiet.unwrap().text.is_none());
    let asked = k.change(to(b.id, OrderStatus::Confirmed, Some(true))).await;
    assert!(asked.unwrap().text.is_some());
}

#[tokio::test]
async fn a_number_that_texted_stop_gets_a_cancelled_record_and_no_text() {
    let k = kitchen(&[]).await;
    let order = k.order("+31612345610").await;
    crate::store::opt_outs::add_opt_out(&k.db, "+31612345610", "sms")
        .await
        .unwrap();
    // A status change goes through; its text is recorded as not sent.
    let changed = k
        .change(to(order.id, OrderStatus::Confirmed, None))
        .await
        .unwrap();
    let text = changed.text.unwrap();
    assert_eq!(text.state, NotificationState::Cancelled);
    assert!(text.last_error.unwrap().contains("STOP"));
    // "Notify customer" is refused, and the refusal is on the record too.
    let own = Template::parse("Hi {first_name}").unwrap();
    let ran = k
        .services
        .notify_customer(&k.staff, Scope::All, order.id, Some(own), None)
        .await
        .unwrap();
    match done(ran) {
        Notified::OptedOut(text) => {
            assert_eq!(text.state, NotificationState::Cancelled);
            assert_eq!(text.body, "Hi Ada");
        }
        other => panic!("expected an opted-out record, got {other:?}"),
    }
    assert_eq!(k.texts(order.id).await.len(), 2);
}

#[tokio::test]
async fn notify_customer_queues_the_status_text_even_when_it_is_switched_off() {
    let k = kitchen(&[]).await;
    let order = k.order("+31612345611").await;
    let pending = Template::parse("{first_name}: got it").unwrap();
    crate::store::templates::save_template(&k.db, OrderStatus::Pending, &pending, false, "t")
        .await
        .unwrap();
    let ran = k
        .services
        .notify_customer(&k.staff, Scope::All, order.id, None, None)
        .await
        .unwrap();
    match done(ran) {
        Notified::Queued(text) => assert_eq!(text.body, "Ada: got it"),
        other => panic!("expected a queued text, got {other:?}"),
    }
    let stranger = Scope::CreatedBy(uuid::Uuid::now_v7());
    let hidden = k
        .services
        .notify_customer(&k.staff, stranger, order.id, None, None)
        .await;
    assert!(matches!(hidden, Err(NotifyError::NotFound(_))));
    assert_eq!(k.texts(order.id).await.len(), 1);
}

#[tokio::test]
async fn only_the_kitchen_sends_texts_in_its_own_words() {
    let k = kitchen(&[]).await;
    let order = k.order("+31612345631").await;
    let shop = Actor {
        key_id: Some(uuid::Uuid::now_v7()),
        name: "webshop".to_owned(),
        role: crate::domain::Role::Integration,
    };
    let own = Template::parse("Hi {first_name}, claim your refund").unwrap();
    let refused = k
        .services
        .notify_customer(&shop, Scope::All, order.id, Some(own.clone()), None)
        .await;
    assert!(matches!(
        refused,
        Err(NotifyError::OwnWordsNotAllowed(
            crate::domain::Role::Integration
        ))
    ));
    assert!(k.texts(order.id).await.is_empty(), "nothing queued");

    let status_text = k
        .services
        .notify_customer(&shop, Scope::All, order.id, None, None)
        .await;
    assert!(matches!(done(status_text.unwrap()), Notified::Queued(_)));
    let worded = k
        .services
        .notify_customer(&k.staff, Scope::All, order.id, Some(own), None)
        .await;
    match done(worded.unwrap()) {
        Notified::Queued(text) => assert_eq!(text.body, "Hi Ada, claim your refund"),
        other => panic!("expected a queued text, got {other:?}"),
    }
}

#[tokio::test]
async fn only_a_failed_text_is_retried_and_never_to_a_number_that_opted_out() {
    let k = kitchen(&[]).await;
    let order = k.order("+31612345612").await;
    let changed = k
        .change(to(order.id, OrderStatus::Confirmed, None))
        .await
        .unwrap();
    let text = changed.text.unwrap();
    match k.services.retry_text(&k.staff, text.id).await {
        Err(RetryError::NotFailed(NotificationState::Queued)) => {}
        other => panic!("expected NotFailed, got {other:?}"),
    }
    let missing = uuid::Uuid::now_v7();
    assert!(matches!(
        k.services.retry_text(&k.staff, missing).await,
        Err(RetryError::NotFound(id)) if id == missing
    ));
    // Every attempt failed (as the worker records it).
    let fail = || k.set_state(text.id, "failed", None);
    fail().await;
    let again = k.services.retry_text(&k.staff, text.id).await.unwrap();
    assert_eq!(
        (again.state, again.attempts),
        (NotificationState::Queued, 0)
    );

    fail().await;
    crate::store::opt_outs::add_opt_out(&k.db, "+31612345612", "sms")
        .await
        .unwrap();
    assert!(matches!(
        k.services.retry_text(&k.staff, text.id).await,
        Err(RetryError::OptedOut(phone)) if phone == "+31612345612"
    ));
    let kept = k.texts(order.id).await;
    assert_eq!(kept[0].state, NotificationState::Failed);
}

#[tokio::test]
async fn a_repeat_gets_the_kept_answer_and_a_reused_key_is_refused() {
    let k = kitchen(&[]).await;
    let once = |fingerprint: &str| Once {
        key_id: k.staff.key_id.unwrap(),
        key: "order-7".to_owned(),
        fingerprint: fingerprint.to_owned(),
        answer: |created: &Created| Answer {
            status: 201,
            body: created.order.id.to_string(),
            location: None,
        },
    };
    let first = k
        .services
        .create_order(&k.staff, new_order("+31612345614"), true, Some(once("a")))
        .await
        .unwrap();
    let (id, kept) = match first {
        Ran::Done { outcome, answer } => (outcome.order.id, answer.expect("kept")),
        Ran::Replayed(_) => panic!("the first request ran before"),
    };
    assert_eq!(kept.body, id.to_string());
    let repeat = k
        .services
        .create_order(&k.staff, new_order("+31612345614"), true, Some(once("a")))
        .await
        .unwrap();
    match repeat {
        Ran::Replayed(answer) => assert_eq!(answer, kept),
        Ran::Done { .. } => panic!("the repeat ran again"),
    }
    let reused = k
        .services
        .create_order(&k.staff, new_order("+31612345615"), false, Some(once("b")))
        .await;
    assert!(matches!(
        reused,
        Err(CreateOrderError::Repeat(RepeatRefused::Mismatch))
    ));
    let page = k
        .services
        .list_orders(
            Scope::All,
            &crate::domain::OrderFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 1, "one order, however often it was sent");
    assert_eq!(k.texts(id).await.len(), 1);
}

#[tokio::test]
async fn stop_and_start_from_any_provider_switch_a_numbers_texts_off_and_on() {
    let k = kitchen(&[]).await;
    let order = k.order("+31612345620").await;
    let reply = |sender: &str, text: &str, via| Reply {
        sender: sender.to_owned(),
        text: text.to_owned(),
        via,
    };
    let number = PhoneNumber::parse("+31612345620", None).unwrap();
    // MessageBird writes the number without its plus.
    let stop = k
        .services
        .apply_reply(reply("31612345620", " stop ", "messagebird"));
    assert_eq!(stop.await.unwrap(), ReplyOutcome::OptedOut(number.clone()));
    let changed = k.change(to(order.id, OrderStatus::Confirmed, None)).await;
    assert_eq!(
        changed.unwrap().text.unwrap().state,
        NotificationState::Cancelled
    );

    let chatter = k
        .services
        .apply_reply(reply("+31612345620", "thanks!", "twilio"));
    assert_eq!(chatter.await.unwrap(), ReplyOutcome::NoKeyword);
    let garbage = k
        .services
        .apply_reply(reply("not a number", "STOP", "twilio"));
    assert!(matches!(
        garbage.await.unwrap(),
        ReplyOutcome::UnreadableNumber(crate::domain::Keyword::Stop)
    ));

    let start = k
        .services
        .apply_reply(reply("+31612345620", "START", "twilio"));
    assert_eq!(start.await.unwrap(), ReplyOutcome::OptedIn(number));
    let changed = k.change(to(order.id, OrderStatus::Delayed, None)).await;
    assert_eq!(
        changed.unwrap().text.unwrap().state,
        NotificationState::Queued
    );
}

#[tokio::test]
async fn a_delivery_report_finds_its_text_by_either_id_and_only_moves_it_forward() {
    let k = kitchen(&[]).await;
    let order = k.order("+31612345621").await;
    let first = k.change(to(order.id, OrderStatus::Confirmed, None)).await;
    let first = first.unwrap().text.unwrap();
    let second = k.change(to(order.id, OrderStatus::Delayed, None)).await;
    let second = second.unwrap().text.unwrap();
    k.set_state(first.id, "sent", Some("mb-1")).await;
    k.set_state(second.id, "sent", Some("tw-2")).await;
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-29T19:00:00Z")
        .unwrap()
        .to_utc();
    let report = |reference, id: &str, says| Report {
        reference,
        provider_message_id: Some(id.to_owned()),
        says,
    };
    let delivered = DeliveryReport::Delivered { at };
    let failed = DeliveryReport::Failed {
        reason: "Twilio reported undelivered".to_owned(),
    };
    let by_reference = report(Some(first.id), "", delivered.clone());
    assert!(
        k.services
            .apply_delivery_report(by_reference)
            .await
            .unwrap()
    );
    let by_provider_id = report(None, "tw-2", failed.clone());
    assert!(
        k.services
            .apply_delivery_report(by_provider_id)
            .await
            .unwrap()
    );
    // A late report cannot undo what is settled.
    let late = report(Some(first.id), "mb-1", failed);
    assert!(k.services.apply_delivery_report(late).await.unwrap());
    let unknown = report(None, "nobody", delivered);
    assert!(!k.services.apply_delivery_report(unknown).await.unwrap());

    let texts = k.texts(order.id).await;
    let state = |id| texts.iter().find(|t| t.id == id).unwrap();
    assert_eq!(state(first.id).state, NotificationState::Delivered);
    assert_eq!(state(first.id).delivered_at, Some(at));
    assert_eq!(state(second.id).state, NotificationState::Failed);
    assert_eq!(
        state(second.id).last_error.as_deref(),
        Some("Twilio reported undelivered")
    );
}

#[tokio::test]
async fn the_last_admin_key_and_an_unknown_one_are_not_revoked() {
    let k = kitchen(&[]).await;
    let (admin, _) = k
        .services
        .create_key(
            &k.staff,
            "owner".to_owned(),
            crate::domain::Role::Admin,
            KeySource::Api,
        )
        .await
        .unwrap();
    let (tablet, _) = k
        .services
        .create_key(
            &k.staff,
            "tablet".to_owned(),
            crate::domain::Role::Staff,
            KeySource::Api,
        )
        .await
        .unwrap();
    assert!(matches!(
        k.services.revoke_key(&k.staff, admin.id).await,
        Err(RevokeKeyError::LastAdmin)
    ));
    k.services.revoke_key(&k.staff, tablet.id).await.unwrap();
    assert!(matches!(
        k.services.revoke_key(&k.staff, tablet.id).await,
        Err(RevokeKeyError::NotFound(id)) if id == tablet.id
    ));
    let left: Vec<_> = k
        .services
        .keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(left, [admin.id]);
}

#[tokio::test]
async fn lifting_an_opt_out_needs_one_and_texts_flow_again() {
    let k = kitchen(&[]).await;
    assert!(matches!(
        k.services.lift_opt_out(&k.staff, "+31612345630").await,
        Err(LiftOptOutError::NotOptedOut(_))
    ));
    let stop = Reply {
        sender: "+31612345630".to_owned(),
        text: "STOP".to_owned(),
        via: "sandbox",
    };
    k.services.apply_reply(stop).await.unwrap();
    assert_eq!(k.services.opt_outs().await.unwrap().len(), 1);
    // Spelt as a person would type it.
    let lifted = k.services.lift_opt_out(&k.staff, "+31 6 1234 5630").await;
    assert_eq!(lifted.unwrap().as_str(), "+31612345630");
    assert!(k.services.opt_outs().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_preview_renders_for_a_visible_order_or_the_sample_one() {
    let k = kitchen(&[]).await;
    let order = k.order("+31612345631").await;
    let words = Template::parse("{first_name}: {items}").unwrap();
    let sample = k.services.preview(Scope::All, &words, None).await.unwrap();
    assert_eq!(sample.body(), "Ada: 2 x Margherita, 1 x Cola");
    let real = k.services.preview(Scope::All, &words, Some(order.id)).await;
    assert_eq!(real.unwrap().body(), "Ada: 2 x Margherita");
    let stranger = Scope::CreatedBy(uuid::Uuid::now_v7());
    let hidden = k.services.preview(stranger, &words, Some(order.id)).await;
    assert!(matches!(hidden, Err(ReadError::NotFound(_))));
}

/// The webhook outbox as written: (type, order id, the body's JSON), oldest first.
async fn outbox(k: &Kitchen) -> Vec<(String, Option<uuid::Uuid>, serde_json::Value)> {
    use crate::store::entities::webhook_deliveries as deliveries;
    use sea_orm::{EntityTrait, QueryOrder};
    deliveries::Entity::find()
        .order_by_asc(deliveries::Column::Seq)
        .all(&k.db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| {
            (
                d.event_type,
                d.order_id,
                serde_json::from_str(&d.body).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn reports_replies_and_lifted_opt_outs_write_their_webhook_events_with_the_change() {
    let k = kitchen(&[("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", "true")]).await;
    let order = k.order("+31612345622").await;
    // Nothing is written while no endpoint wants anything.
    assert!(outbox(&k).await.is_empty());
    let admin = Actor {
        key_id: None,
        name: "owner".to_owned(),
        role: crate::domain::Role::Admin,
    };
    let wanted = NewEndpoint {
        url: "http://127.0.0.1:9/hooks".to_owned(),
        events: Some(vec![
            EventType::NotificationDelivered,
            EventType::NotificationFailed,
            EventType::CustomerOptedOut,
            EventType::CustomerOptedIn,
        ]),
    };
    k.services
        .create_webhook_endpoint(&admin, wanted)
        .await
        .unwrap();

    // A status change is not among the events wanted.
    let first = k.change(to(order.id, OrderStatus::Confirmed, None)).await;
    let first = first.unwrap().text.unwrap();
    let second = k.change(to(order.id, OrderStatus::Delayed, None)).await;
    let second = second.unwrap().text.unwrap();
    assert!(outbox(&k).await.is_empty());
    k.set_state(first.id, "sent", Some("p-1")).await;
    k.set_state(second.id, "sent", Some("p-2")).await;
    let at = chrono::Utc::now();
    let report = |id: &str, says| Report {
        reference: None,
        provider_message_id: Some(id.to_owned()),
        says,
    };
    let delivered = report("p-1", DeliveryReport::Delivered { at });
    k.services.apply_delivery_report(delivered).await.unwrap();
    let failed = DeliveryReport::Failed {
        reason: "Handset is off".to_owned(),
    };
    k.services
        .apply_delivery_report(report("p-2", failed.clone()))
        .await
        .unwrap();
    // A late report changes nothing, so it tells nobody anything.
    k.services
        .apply_delivery_report(report("p-1", failed))
        .await
        .unwrap();

    let reply = |text: &str| Reply {
        sender: "+31612345622".to_owned(),
        text: text.to_owned(),
        via: "twilio",
    };
    k.services.apply_reply(reply("STOP")).await.unwrap();
    k.services.apply_reply(reply("START")).await.unwrap();
    k.services.apply_reply(reply("STOP")).await.unwrap();
    k.services
        .lift_opt_out(&admin, "+31612345622")
        .await
        .unwrap();

    let written = outbox(&k).await;
    let kinds: Vec<&str> = written.iter().map(|(kind, ..)| kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "notification.delivered",
            "notification.failed",
            "customer.opted_out",
            "customer.opted_in",
            "customer.opted_out",
            "customer.opted_in",
        ]
    );
    let (_, about, body) = &written[0];
    assert_eq!(*about, Some(order.id));
    assert_eq!(body["type"], "notification.delivered");
    assert_eq!(body["data"]["notification"]["id"], first.id.to_string());
    assert_eq!(body["data"]["notification"]["state"], "delivered");
    let (_, _, body) = &written[1];
    assert_eq!(body["data"]["notification"]["last_error"], "Handset is off");
    let (_, about, body) = &written[2];
    assert_eq!(*about, None);
    assert_eq!(
        body["data"],
        serde_json::json!({"phone": "+31612345622", "source": "twilio"})
    );
    assert_eq!(written[5].2["data"]["source"], "admin");
}

#[tokio::test]
async fn a_customers_stop_reaches_the_keys_that_created_orders_for_that_number_only() {
    let k = kitchen(&[("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", "true")]).await;
    let admin = Actor {
        key_id: None,
        name: "owner".to_owned(),
        role: crate::domain::Role::Admin,
    };
    let mut shops = Vec::new();
    for name in ["Webshop", "Till"] {
        let (key, _) = k
            .services
            .create_key(
                &admin,
                name.to_owned(),
                crate::domain::Role::Integration,
                KeySource::Api,
            )
            .await
            .unwrap();
        let shop = Actor {
            key_id: Some(key.id),
            name: name.to_owned(),
            role: crate::domain::Role::Integration,
        };
        let hook = NewEndpoint {
            url: format!("http://127.0.0.1:9/{name}"),
            events: Some(vec![EventType::CustomerOptedOut]),
        };
        let (endpoint, _) = k
            .services
            .create_webhook_endpoint(&shop, hook)
            .await
            .unwrap();
        shops.push((shop, endpoint.id));
    }
    // Only the webshop ever took an order for this number.
    let (webshop, webshop_hook) = &shops[0];
    let created = k
        .services
        .create_order(webshop, new_order("+31612345623"), false, None);
    done(created.await.unwrap());
    let stop = Reply {
        sender: "+31612345623".to_owned(),
        text: "STOP".to_owned(),
        via: "twilio",
    };
    k.services.apply_reply(stop).await.unwrap();

    use crate::store::entities::webhook_deliveries as deliveries;
    use sea_orm::EntityTrait;
    let written = deliveries::Entity::find().all(&k.db).await.unwrap();
    let endpoints: Vec<uuid::Uuid> = written.iter().map(|d| d.endpoint_id).collect();
    assert_eq!(endpoints, [*webshop_hook], "only the webshop's endpoint");
    assert_eq!(written[0].event_type, "customer.opted_out");
}
