import { describe, expect, it } from 'vitest';
import { missingCountryCode, phoneHint, phoneProblem } from './phone';

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

  it('says which country a number without a country code is read in', () => {
    expect(phoneHint('06 1234 5678', 'NL')).toBe('No country code, so it is read as a number in Netherlands.');
    expect(phoneHint('+31 6 1234 5678', 'NL')).toBeNull();
    expect(phoneHint('0031 6 1234 5678', 'NL')).toBeNull();
  });

  it('says a number needs its country code where the server has no default country', () => {
    expect(missingCountryCode('06 1234 5678', null)).toMatch(/^Start with \+ and the country code/);
    expect(phoneHint('06 1234 5678', null)).toBeNull();
    expect(missingCountryCode('+31 6 1234 5678', null)).toBeNull();
    expect(missingCountryCode('06 1234 5678', 'NL')).toBeNull();
  });

  it('hedges when the server’s settings are not known', () => {
    expect(phoneHint('06 1234 5678')).toMatch(/default country, if it has one/);
    expect(missingCountryCode('06 1234 5678')).toBeNull();
  });
});
