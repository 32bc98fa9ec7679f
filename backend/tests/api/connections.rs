//! Holding the server's resources: a body sent a byte at a time is cut off after 15 s
//! (408), one client address holds at most ORDER_NOTIFY_CONNECTIONS_PER_ADDRESS
//! connections, and X-Forwarded-For names the client only behind a trusted proxy.

use std::time::{Duration, Instant};

use crate::helpers::*;
use order_notify::store::entities::orders;
use sea_orm::{EntityTrait, PaginatorTrait};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn address(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Whether the server closed `stream` (EOF or reset) within `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(wait, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => panic!("the server sent something unasked"),
        Err(_) => false,
    }
}

both_databases! {
    async fn a_body_sent_a_byte_at_a_time_is_cut_off_with_408(app) {
        let mut stream = TcpStream::connect(address(&app)).await.unwrap();
        let head = format!(
            "POST /orders HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n",
            app.admin_key
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let started = Instant::now();
        let trickle = tokio::spawn(async move {
            for byte in "{\"customer_name\": \"Slow Loris\"".bytes().cycle() {
                if writer.write_all(&[byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut answer)).await;
        trickle.abort();
        let took = started.elapsed();
        assert!(read.is_ok(), "the connection was still open after 30 s");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("application/problem+json") && answer.contains("/problems/request-timeout"), "{answer}");
        assert!((Duration::from_secs(14)..Duration::from_secs(20)).contains(&took), "{took:?}");
        assert_eq!(orders::Entity::find().count(&app.db).await.unwrap(), 0);
    }

    async fn one_address_holds_at_most_its_share_of_connections(app) {
        let kind = app.kind;
        drop(app);
        let app = spawn_app_with(kind, &[("ORDER_NOTIFY_CONNECTIONS_PER_ADDRESS", "4")]).await.unwrap();
        // Five at once: actix's workers take them up in any order, so whichever comes
        // last to be counted is the one shut, as soon as it is accepted.
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(TcpStream::connect(address(&app)).await.unwrap());
        }
        let mut shut = Vec::new();
        for (i, stream) in held.iter_mut().enumerate() {
            if closed_within(stream, Duration::from_millis(500)).await {
                shut.push(i);
            }
        }
        assert_eq!(shut.len(), 1, "exactly one of five connections is shut: {shut:?}");
        held.remove(shut[0]);
        // A connection that ends gives its place back.
        held.pop();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let figures = scrape(&reqwest::Client::new(), &app.address).await;
        assert_eq!(metric(&figures, "order_notify_connections_refused_total"), 1.0);
        drop(held);
    }

    async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy(app) {
        let kind = app.kind;
        drop(app);
        let limited = [("ORDER_NOTIFY_RATE_LIMIT", "1"), ("ORDER_NOTIFY_RATE_LIMIT_BURST", "2")];
        let open = |app: &TestApp, client: &str| {
            app.client.get(app.url("/openapi.json")).header("X-Forwarded-For", client).send()
        };

        // No trusted proxy: the header is the caller's own word, and changing it does
        // not get a fresh bucket.
        let app = spawn_app_with(kind, &limited).await.unwrap();
        for _ in 0..2 {
            assert_eq!(open(&app, "203.0.113.5").await.unwrap().status(), 200);
        }
        assert_problem(open(&app, "203.0.113.6").await.unwrap(), 429).await;
        drop(app);

        // Behind a trusted proxy (here, loopback), each forwarded client has its own
        // bucket, and the proxy's connections are not capped per address.
        let mut trusted = limited.to_vec();
        trusted.extend([("ORDER_NOTIFY_TRUSTED_PROXIES", "127.0.0.0/8, ::1"), ("ORDER_NOTIFY_CONNECTIONS_PER_ADDRESS", "2")]);
        let app = spawn_app_with(kind, &trusted).await.unwrap();
        for _ in 0..2 {
            assert_eq!(open(&app, "203.0.113.5").await.unwrap().status(), 200);
        }
        assert_problem(open(&app, "203.0.113.5").await.unwrap(), 429).await;
        // What a client writes before the proxy's own entry is not believed.
        assert_problem(open(&app, "198.51.100.1, 203.0.113.5").await.unwrap(), 429).await;
        assert_eq!(open(&app, "203.0.113.6").await.unwrap().status(), 200);
        let mut streams = Vec::new();
        for _ in 0..4 {
            streams.push(TcpStream::connect(address(&app)).await.unwrap());
        }
        for stream in &mut streams {
            assert!(!closed_within(stream, Duration::from_millis(100)).await, "a trusted proxy's connection was shut");
        }
    }
}
