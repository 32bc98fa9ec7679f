// Turns the API's RFC 9457 problem documents (and failed connections) into sentences a
// cook can act on, and field errors into labels the new-order form can show inline.
import type { OrderStatus, Problem } from '../api/types';
import { statusLabel } from './transitions';

export type ProblemLike = Partial<Problem> & { status: number };

export function isProblem(value: unknown): value is ProblemLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { status?: unknown }).status === 'number'
  );
}

const FIELD_LABELS: Record<string, string> = {
  customer_name: 'Name',
  notes: 'Notes',
  eta: 'Promised time',
  phone: 'Phone',
  items: 'Items',
  external_ref: 'Reference',
  status: 'Status',
  body: 'Text',
  name: 'Name',
  role: 'Role',
  notify: 'Text the customer',
};

/** "items[2].quantity" → "Item 3 quantity"; "phone" → "Phone". */
export function fieldLabel(field: string): string {
  const item = /^items\[(\d+)\](?:\.(\w+))?$/.exec(field);
  if (item) {
    const number = Number(item[1]) + 1;
    return item[2] ? `Item ${number} ${item[2] === 'name' ? 'name' : item[2]}` : `Item ${number}`;
  }
  return FIELD_LABELS[field] ?? field.replaceAll('_', ' ');
}

/**
 * A field's message as a sentence: "must not be empty" on `customer_name` becomes
 * "Name must not be empty."; a message that names its own subject is capitalised.
 */
export function fieldSentence(field: string, message: string): string {
  const text = message.trim();
  const sentence = /^(must|is|has|needs|cannot)\b/.test(text)
    ? `${fieldLabel(field)} ${text}`
    : text.charAt(0).toUpperCase() + text.slice(1);
  return endWithStop(sentence);
}

/** The server's message for each field, keyed by the field's path. */
export function fieldErrors(problem: ProblemLike | null | undefined): Record<string, string> {
  const found: Record<string, string> = {};
  for (const error of problem?.errors ?? []) {
    found[error.field] ??= error.message;
  }
  return found;
}

function joinAsList(words: string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

function endWithStop(text: string): string {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

export interface Circumstances {
  /** The `Retry-After` header of a 429, in seconds. */
  retryAfter?: string | null;
}

/**
 * One sentence for a failed call. `problem` is null when the server never answered
 * (network down, server stopped).
 */
export function problemSentence(problem: ProblemLike | null, circumstances: Circumstances = {}): string {
  if (problem === null) {
    return 'Could not reach the server. Check the connection and try again.';
  }
  const kind = problem.type?.split('/').pop() ?? '';
  switch (problem.status) {
    case 400:
      return problem.detail
        ? `The server could not read the request: ${endWithStop(problem.detail)}`
        : 'The server could not read the request.';
    case 401:
      return 'This key was not accepted. Sign in again with a valid key.';
    case 403:
      return "Your key's role is not allowed to do this. Ask an admin.";
    case 404:
      return 'Not found: it may have been removed, or your key cannot see it.';
    case 409:
      return conflictSentence(problem, kind);
    case 412:
      return 'Someone else changed this order first. The latest version is shown now; try again if it is still needed.';
    case 413:
      return 'That is too much to send at once. Shorten it and try again.';
    case 422: {
      const errors = problem.errors ?? [];
      if (errors.length === 0) return problem.detail ? endWithStop(problem.detail) : 'Please check what you entered.';
      const parts = errors.map((e) => `${fieldLabel(e.field)}: ${e.message}`);
      return `Please check: ${parts.join('; ')}.`.replace(/\.\.$/, '.');
    }
    case 429: {
      const seconds = Number(circumstances.retryAfter);
      const wait = Number.isFinite(seconds) && seconds > 0 ? `${Math.ceil(seconds)} s` : 'a moment';
      return `Too many requests just now. Wait ${wait} and try again.`;
    }
    case 503:
      return `The server is not ready (its database may be down). Nothing was changed; try again in a moment.${reference(problem)}`;
    default:
      if (problem.status >= 500) {
        return `The server had a problem. Nothing was changed; try again in a moment.${reference(problem)}`;
      }
      return problem.detail ? endWithStop(problem.detail) : `The request failed (${problem.status}).`;
  }
}

/** For server faults: the id to quote to whoever reads the server's logs. */
function reference(problem: ProblemLike): string {
  return problem.request_id ? ` (Reference: ${problem.request_id})` : '';
}

function conflictSentence(problem: ProblemLike, kind: string): string {
  if (kind === 'invalid-transition') {
    const allowed = (problem.allowed ?? []) as OrderStatus[];
    if (allowed.length === 0) {
      return 'This order is finished, so its status can no longer change.';
    }
    return `That change is no longer possible. The order can now become ${joinAsList(allowed.map(statusLabel))}.`;
  }
  if (kind === 'concurrent-change') {
    return 'Someone else changed this order at the same moment. Try again.';
  }
  if (problem.title === 'Customer opted out') {
    return 'The customer texted STOP, so no text was sent. They get texts again after they text START.';
  }
  return problem.detail ? endWithStop(problem.detail) : 'That conflicts with the current state. Refresh and try again.';
}
