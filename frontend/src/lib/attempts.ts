// A text's attempts as the kitchen reads them: which provider was asked and what it
// said, so a text that went out late shows why ("bird did not answer, then twilio took it").
import type { Attempt } from '../api/types';

const OUTCOMES: Record<Attempt['outcome'], string> = {
  accepted: 'took it',
  retry: 'failed, tried again',
  refused: 'refused it',
};

/** "twilio took it in 180 ms", "bird failed, tried again: Bird answered 503 …". */
export function describeAttempt(attempt: Attempt): string {
  const said = `${attempt.provider} ${OUTCOMES[attempt.outcome]}`;
  if (attempt.outcome === 'accepted') return `${said} in ${attempt.took_ms} ms`;
  return attempt.error ? `${said}: ${attempt.error}` : said;
}

/** Whether the attempts went through more than one provider (failover happened). */
export function changedProvider(attempts: Attempt[]): boolean {
  return new Set(attempts.map((a) => a.provider)).size > 1;
}
