import { describe, expect, it } from 'vitest';
import type { Attempt } from '../api/types';
import { changedProvider, describeAttempt } from './attempts';

const attempt = (provider: string, outcome: Attempt['outcome'], error: string | null = null): Attempt => ({
  provider,
  outcome,
  error,
  at: '2026-11-30T19:00:00Z',
  took_ms: 180,
});

describe('describeAttempt', () => {
  it('says which provider took the text and how fast', () => {
    expect(describeAttempt(attempt('twilio', 'accepted'))).toBe('twilio took it in 180 ms');
  });

  it("gives a failure in the provider's words", () => {
    expect(describeAttempt(attempt('bird', 'retry', 'Bird answered 503 Service Unavailable: maintenance'))).toBe(
      'bird failed, tried again: Bird answered 503 Service Unavailable: maintenance',
    );
    expect(describeAttempt(attempt('bird', 'refused', 'not a mobile number'))).toBe('bird refused it: not a mobile number');
    expect(describeAttempt(attempt('bird', 'retry'))).toBe('bird failed, tried again');
  });
});

describe('changedProvider', () => {
  it('tells a failover from retries with one provider', () => {
    expect(changedProvider([attempt('bird', 'retry'), attempt('twilio', 'accepted')])).toBe(true);
    expect(changedProvider([attempt('bird', 'retry'), attempt('bird', 'accepted')])).toBe(false);
    expect(changedProvider([])).toBe(false);
  });
});
