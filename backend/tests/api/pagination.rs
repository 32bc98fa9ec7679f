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
