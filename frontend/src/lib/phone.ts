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

/** A hint for a number without a country code; the server may know a default region. */
export function phoneHint(raw: string): string | null {
  const trimmed = raw.trim();
  if (trimmed === '' || trimmed.startsWith('+') || trimmed.startsWith('00')) return null;
  return 'No country code: the server’s default region is assumed (start with + to be sure).';
}
