import { describe, expect, it } from 'vitest';
import { phoneHint, phoneProblem } from './phone';

describe('phone check while typing', () => {
  it('accepts international numbers written the usual ways', () => {
    for (const raw of ['+31 6 1234 5678', '+1 (415) 555-0100', '+44.20.7946.0958', '']) {
      expect(phoneProblem(raw)).toBeNull();
    }
  });

  it('refuses letters, stray pluses and impossible lengths', () => {
    expect(phoneProblem('06-CALL-ME')).toMatch(/digits/);
    expect(phoneProblem('+31+6')).toMatch(/digits/);
    expect(phoneProblem('12345')).toMatch(/short/);
    expect(phoneProblem('+1234567890123456')).toMatch(/at most 15/);
  });

  it('hints at a missing country code without calling it wrong', () => {
    expect(phoneHint('06 1234 5678')).toMatch(/default region/);
    expect(phoneHint('+31 6 1234 5678')).toBeNull();
    expect(phoneHint('0031 6 1234 5678')).toBeNull();
  });
});
