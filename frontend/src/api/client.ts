// The one way the dashboard talks to the server: openapi-fetch typed by schema.d.ts,
// with the session's key on every request and a 401 sending the user back to sign-in.
import createClient, { type Middleware } from 'openapi-fetch';
import { isProblem, problemSentence, type ProblemLike } from '../lib/problems';
import type { paths } from './schema';

export type Api = ReturnType<typeof createClient<paths>>;

/** A failed call, with the sentence to show and the problem document behind it. */
export class ApiFailure extends Error {
  readonly problem: ProblemLike | null;

  constructor(problem: ProblemLike | null, retryAfter: string | null = null) {
    super(problemSentence(problem, { retryAfter }));
    this.name = 'ApiFailure';
    this.problem = problem;
  }

  get status(): number | null {
    return this.problem?.status ?? null;
  }
}

export interface ClientOptions {
  /** The API key to send, read at each request. */
  key: () => string | null;
  /** Called when the server answers 401 to a request made with a key. */
  onUnauthorized?: () => void;
  baseUrl?: string;
}

export function createApi({ key, onUnauthorized, baseUrl }: ClientOptions): Api {
  const client = createClient<paths>({ baseUrl: baseUrl ?? window.location.origin });
  const auth: Middleware = {
    onRequest({ request }) {
      const secret = key();
      if (secret) request.headers.set('Authorization', `Bearer ${secret}`);
      return request;
    },
    onResponse({ response }) {
      if (response.status === 401 && key()) onUnauthorized?.();
      return response;
    },
  };
  client.use(auth);
  return client;
}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * Waits for a call and gives its data, or throws an ApiFailure whose message is a sentence
 * for the user (also when the network failed before any answer).
 */
export async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await call;
  } catch {
    throw new ApiFailure(null);
  }
  const { data, error, response } = answer;
  if (response.ok) return data as T;
  const problem = isProblem(error) ? error : { status: response.status };
  throw new ApiFailure(problem, response.headers.get('Retry-After'));
}

/** The sentence for anything a call may throw. */
export function failureSentence(failure: unknown): string {
  if (failure instanceof ApiFailure) return failure.message;
  return problemSentence(null);
}

/** A fresh `Idempotency-Key`: one per user action, so a repeated request does nothing twice. */
export function idempotencyKey(): string {
  return crypto.randomUUID();
}
