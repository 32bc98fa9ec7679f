// The admin's and the kitchen's settings as the dashboard asks for them: API keys, the
// text for each status (with its live preview), webhook endpoints and their
// deliveries, and the sandbox's outbox. Components
// call these; only the modules in `lib/` talk to the API.
import { unwrap } from '../api/client';
import type {
  CreatedKey,
  CreatedWebhookEndpoint,
  EventType,
  Key,
  Preview,
  Role,
  SandboxMessage,
  Template,
  WebhookDelivery,
  WebhookEndpoint,
} from '../api/types';
import { session } from './session.svelte';

export async function listKeys(): Promise<Key[]> {
  return (await unwrap(session.api.GET('/keys'))).items;
}

/** A new key; its secret is in the answer, and nowhere else ever again. */
export async function createKey(name: string, role: Role): Promise<CreatedKey> {
  return unwrap(session.api.POST('/keys', { body: { name, role } }));
}

export async function revokeKey(id: string): Promise<void> {
  await unwrap(session.api.DELETE('/keys/{id}', { params: { path: { id } } }));
}

export async function listTemplates(): Promise<Template[]> {
  return (await unwrap(session.api.GET('/templates'))).items;
}

/** What `body` gives for a sample order, and what it costs. */
export async function previewTemplate(body: string): Promise<Preview> {
  return unwrap(session.api.POST('/templates/preview', { body: { body } }));
}

export async function saveTemplate(template: Template['status'], body: string, enabled: boolean): Promise<Template> {
  return unwrap(session.api.PUT('/templates/{status}', { params: { path: { status: template } }, body: { body, enabled } }));
}

/** The texts the sandbox provider "sent" last, newest first. */
export async function sandboxMessages(limit = 200): Promise<SandboxMessage[]> {
  return (await unwrap(session.api.GET('/sandbox/messages', { params: { query: { limit } } }))).items;
}

export async function listEndpoints(): Promise<WebhookEndpoint[]> {
  return (await unwrap(session.api.GET('/webhook-endpoints'))).items;
}

/** A new endpoint; its signing secret is in the answer, and nowhere else ever again. */
export async function createEndpoint(url: string, events: EventType[] | null): Promise<CreatedWebhookEndpoint> {
  const body = events === null ? { url } : { url, events };
  return unwrap(session.api.POST('/webhook-endpoints', { body }));
}

export async function deleteEndpoint(id: string): Promise<void> {
  await unwrap(session.api.DELETE('/webhook-endpoints/{id}', { params: { path: { id } } }));
}

/** The endpoint's latest deliveries, newest first. */
export async function listDeliveries(id: string, limit = 20): Promise<WebhookDelivery[]> {
  const answer = session.api.GET('/webhook-endpoints/{id}/deliveries', { params: { path: { id }, query: { limit } } });
  return (await unwrap(answer)).items;
}
