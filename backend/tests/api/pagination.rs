use std::collections::HashSet;

use crate::helpers::*;
use futures_util::StreamExt;

async fn create_many(app: &TestApp, prefix: &str, count: usize) -> Vec<String> {
    futures_util::stream::iter(0..count)
        .map(|i| async move {
            app.create_order(&format!("{prefix} {i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .buffer_unordered(8)
        .collect()
        .await
}

both_databases! {
    async fn paging_through_500_orders_has_no_repeats_or_gaps_while_orders_arrive(app) {
        let existing: HashSet<String> = create_many(&app, "existing", 500).await.into_iter().collect();
        assert_eq!(existing.len(), 500);

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            // New orders arrive between pages, as they would on a busy evening.
            create_many(&app, "arriving", 3).await;
            let path = match &cursor {
                Some(c) => format!("/orders?limit=37&cursor={c}"),
                None => "/orders?limit=37".to_owned(),
            };
            let page = app.get_json(&path, &app.admin_key).await;
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 37);
            seen.extend(items.iter().map(|o| o["id"].as_str().unwrap().to_owned()));
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let unique: HashSet<_> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "an order appeared twice");
        assert!(existing.is_subset(&unique), "an order was skipped");
        assert!(pages >= 14);
    }
}

/// Every page of `path` (which has no query yet), following `next_cursor`.
async fn all_pages(app: &TestApp, path: &str, limit: usize) -> (Vec<serde_json::Value>, usize) {
    let (mut items, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
            None => format!("{path}?limit={limit}"),
        };
        let page = app.get_json(&url, &app.admin_key).await;
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= limit, "{url}");
        items.extend(got.iter().cloned());
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (items, pages),
        }
    }
}

both_databases! {
    async fn an_orders_history_and_texts_come_a_page_at_a_time(app) {
        // An order toggled between confirmed and delayed many times, and texted on
        // demand, with another order's entries in between.
        let id = app.create_order("Ada").await["id"].as_str().unwrap().to_owned();
        let other = app.create_order("Grace").await["id"].as_str().unwrap().to_owned();
        for i in 0..30 {
            let to = if i % 2 == 0 { "confirmed" } else { "delayed" };
            assert_eq!(app.change_status(&id, to).await.status(), 200);
            assert_eq!(app.change_status(&other, to).await.status(), 200);
        }
        // The default page is 50; one page of 200 holds everything.
        let events = format!("/orders/{id}/events");
        let first = app.get_json(&events, &app.admin_key).await;
        assert_eq!(first["items"].as_array().unwrap().len(), 31);
        assert!(first["next_cursor"].is_null());

        let (history, pages) = all_pages(&app, &events, 7).await;
        assert_eq!(pages, 5);
        assert_eq!(history, first["items"].as_array().unwrap().clone(), "oldest first, no gaps or repeats");
        assert!(history[0]["from"].is_null(), "the creation comes first");

        let texts = format!("/orders/{id}/notifications");
        let (all_texts, pages) = all_pages(&app, &texts, 8).await;
        assert_eq!(all_texts.len(), 30);
        assert_eq!(pages, 4);
        let ids: HashSet<_> = all_texts.iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(ids.len(), 30);
        assert!(all_texts.iter().all(|t| t["order_id"] == id.as_str()));
        let times: Vec<_> = all_texts.iter().map(|t| t["created_at"].as_str().unwrap().to_owned()).collect();
        let mut newest_first = times.clone();
        newest_first.sort_by(|a, b| b.cmp(a));
        assert_eq!(times, newest_first);

        for bad in ["limit=0", "limit=201", "cursor=abc", "page=2"] {
            for path in [&events, &texts] {
                let response = app.get(&format!("{path}?{bad}"), &app.admin_key).send().await.unwrap();
                assert_problem(response, 422).await;
            }
        }
    }
}
