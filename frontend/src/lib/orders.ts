// The actions staff take on an order, each sent with its own Idempotency-Key so that a
// repeated request (a double click, a retry after a timeout) does nothing twice.
import { idempotencyKey, unwrap } from '../api/client';
import type { Attempt, CreateOrder, Notification, Order, OrderEvent, OrderStatus } from '../api/types';
import { session } from './session.svelte';
import { statusLabel } from './transitions';

export interface StatusChange {
  order: Order;
  notification: Notification | null;
}

/** The order's version as its ETag (`"v3"`): what `If-Match` names. */
export function etag(order: Pick<Order, 'version'>): string {
  return `"v${order.version}"`;
}

/** Every page of a paged list, following `next_cursor` (at most `maxPages` pages). */
async function everyPage<T>(
  page: (cursor: string | undefined) => Promise<{ items: T[]; next_cursor?: string | null }>,
  maxPages = 10,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (let n = 0; n < maxPages; n++) {
    const got = await page(cursor);
    items.push(...got.items);
    if (!got.next_cursor) break;
    cursor = got.next_cursor;
  }
  return items;
}

/** An order with its status history and every text about it, read together. */
export async function orderDetails(id: string): Promise<{ order: Order; history: OrderEvent[]; texts: Notification[] }> {
  const page = (cursor: string | undefined) => ({ params: { path: { id }, query: { limit: 200, cursor } } });
  const [order, history, texts] = await Promise.all([
    unwrap(session.api.GET('/orders/{id}', { params: { path: { id } } })),
    everyPage((cursor) => unwrap(session.api.GET('/orders/{id}/events', page(cursor)))),
    everyPage((cursor) => unwrap(session.api.GET('/orders/{id}/notifications', page(cursor)))),
  ]);
  return { order, history, texts };
}

/**
 * Moves an order on, promising `eta` when given; `If-Match` makes it fail if someone
 * changed the order first.
 */
export async function changeStatus(
  order: Order,
  status: OrderStatus,
  notify: boolean,
  eta?: string,
): Promise<StatusChange> {
  const changed = await unwrap(
    session.api.PATCH('/orders/{id}/status', {
      params: { path: { id: order.id } },
      body: eta === undefined ? { status, notify } : { status, notify, eta },
      headers: { 'Idempotency-Key': idempotencyKey(), 'If-Match': etag(order) },
    }),
  );
  return { order: changed.order, notification: changed.notification ?? null };
}

/** Texts the customer the current status's text again. */
export async function notifyCustomer(orderId: string): Promise<Notification> {
  return unwrap(
    session.api.POST('/orders/{id}/notifications', {
      params: { path: { id: orderId } },
      body: {},
      headers: { 'Idempotency-Key': idempotencyKey() },
    }),
  );
}

/** Every attempt at a text, oldest first (`GET /notifications/{id}`). */
export async function attemptsAt(id: string): Promise<Attempt[]> {
  const text = await unwrap(session.api.GET('/notifications/{id}', { params: { path: { id } } }));
  return text.attempts_log;
}

export async function retryNotification(id: string): Promise<Notification> {
  return unwrap(session.api.POST('/notifications/{id}/retry', { params: { path: { id } } }));
}

/** Creates an order; the caller keeps `key` for the form so a resubmit cannot duplicate it. */
export async function createOrder(order: CreateOrder, key: string): Promise<Order> {
  return unwrap(session.api.POST('/orders', { body: order, headers: { 'Idempotency-Key': key } }));
}

/** "2 × Margherita, 1 × Cola". */
export function itemsSummary(order: Pick<Order, 'items'>): string {
  return order.items.map((item) => `${item.quantity} × ${item.name}`).join(', ');
}

/** First name for short messages: "Ada" from "Ada Lovelace". */
export function firstName(name: string): string {
  return name.trim().split(/\s+/)[0] ?? name;
}

/** The toast after a status change: who, what, and whether the customer hears of it. */
export function changeSentence(changed: Order, notification: Notification | null, silent: boolean): string {
  const told = notification ? 'customer will be texted' : silent ? 'no text sent' : 'no text (its template is off)';
  return `${firstName(changed.customer_name)}: ${statusLabel(changed.status)}, ${told}.`;
}

/** Texts that failed for good, newest first (up to 100). */
export async function failedTexts(): Promise<Notification[]> {
  const page = await unwrap(session.api.GET('/notifications', { params: { query: { state: 'failed', limit: 100 } } }));
  return page.items;
}

/** One order, or `null` when it is gone or not this key's. */
export async function findOrder(id: string): Promise<Order | null> {
  const answer = await session.api.GET('/orders/{id}', { params: { path: { id } } });
  if (answer.response.status === 404) return null;
  return unwrap(Promise.resolve(answer));
}

/** Corrects an order's phone number, at the version the caller saw (`If-Match`). */
export async function correctPhone(order: Order, phone: string): Promise<Order> {
  return unwrap(
    session.api.PATCH('/orders/{id}', {
      params: { path: { id: order.id } },
      body: { phone },
      headers: { 'Idempotency-Key': idempotencyKey(), 'If-Match': etag(order) },
    }),
  );
}

/** The latest texts about an order, newest first. */
export async function latestTexts(orderId: string, limit = 20): Promise<Notification[]> {
  const page = await unwrap(
    session.api.GET('/orders/{id}/notifications', { params: { path: { id: orderId }, query: { limit } } }),
  );
  return page.items;
}
