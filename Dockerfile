# order-notify in one image: the dashboard built with Node, the server with cargo, run
# on a slim Debian as an unprivileged user. Build: docker build -t order-notify .
# Run: docker run -p 8080:8080 -v order-notify:/var/lib/order-notify order-notify

FROM node:20-bookworm-slim AS dashboard
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY openapi.yaml /src/openapi.yaml
COPY frontend/ ./
RUN npm run build

FROM rust:1.95-slim-bookworm AS server
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY backend/ backend/
RUN cargo build --release --locked --bin order-notify

FROM debian:bookworm-slim
# ca-certificates: the HTTPS calls to MessageBird and Twilio. Debian's stable package is
# what we want here, whichever point release it is.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/order-notify --create-home order-notify
COPY --from=server /src/target/release/order-notify /usr/local/bin/order-notify
COPY --from=dashboard /src/frontend/dist /usr/share/order-notify/dashboard
ENV ORDER_NOTIFY_BIND=0.0.0.0:8080 \
    ORDER_NOTIFY_STATIC_DIR=/usr/share/order-notify/dashboard \
    ORDER_NOTIFY_DATABASE_URL=sqlite:///var/lib/order-notify/order-notify.db?mode=rwc
USER 10001:10001
WORKDIR /var/lib/order-notify
EXPOSE 8080
# SIGTERM is what `docker stop` sends: the server finishes requests and sends in flight.
STOPSIGNAL SIGTERM
ENTRYPOINT ["order-notify"]
CMD ["serve"]
