// A quick check of a phone number while it is typed. The server parses it for real (to
// E.164, with its default region) and its verdict is shown on submit.

/** Characters people type in phone numbers besides digits. */
const SEPARATORS = /[\s().\-/]/g;

/** Why `raw` cannot be a phone number, or null when it may be one. Empty is not judged. */
export function phoneProblem(raw: string): string | null {
  const trimmed = raw.trim();
  if (trimmed === '') return null;
  const compact = trimmed.replace(SEPARATORS, '');
  if (!/^\+?\d*$/.test(compact)) {
    return 'Use digits, spaces and a leading + only.';
  }
  const digits = compact.replace('+', '').length;
  if (digits < 6) return 'Too short for a phone number.';
  if (digits > 15) return 'Too long: phone numbers have at most 15 digits.';
  return null;
}

/** A country's name in English ("NL" → "Netherlands"), or the code when unknown. */
export function countryName(code: string): string {
  try {
    return new Intl.DisplayNames(['en'], { type: 'region' }).of(code) ?? code;
  } catch {
    return code;
  }
}

/**
 * What the server will do with a number written without a country code, as a sentence:
 * read it in `defaultRegion` (from `GET /settings`), refuse it when there is none
 * (`null`), or, when the settings are not known (`undefined`), that it depends.
 */
export function phoneHint(raw: string, defaultRegion?: string | null): string | null {
  const trimmed = raw.trim();
  if (trimmed === '' || trimmed.startsWith('+') || trimmed.startsWith('00')) return null;
  if (defaultRegion) return `No country code, so it is read as a number in ${countryName(defaultRegion)}.`;
  if (defaultRegion === null) return null;
  return 'No country code: the server reads it in its default country, if it has one. Start with + to be sure.';
}

/**
 * Why the server will refuse `raw` for want of a country code (when it has no default
 * country), or null.
 */
export function missingCountryCode(raw: string, defaultRegion?: string | null): string | null {
  const trimmed = raw.trim();
  if (defaultRegion !== null || trimmed === '' || trimmed.startsWith('+') || trimmed.startsWith('00')) return null;
  return 'Start with + and the country code, such as +31 6 1234 5678: this server has no default country.';
}
