// How a text's length is shown: "2 SMS", the characters left before the next SMS starts,
// and why a text is in UCS-2. The server counts (in GSM-7 septets or UTF-16 units); this
// module only explains its numbers.
import type { Encoding } from '../api/types';

interface Capacity {
  /** Units in a text that fits in one SMS. */
  single: number;
  /** Units per SMS once a text is split (the rest carries the joining header). */
  multipart: number;
}

const CAPACITY: Record<Encoding, Capacity> = {
  'GSM-7': { single: 160, multipart: 153 },
  'UCS-2': { single: 70, multipart: 67 },
};

export interface Length {
  encoding: Encoding;
  /** Units as the server counts them (`characters` in a preview). */
  characters: number;
  segments: number;
}

export function capacity(encoding: Encoding): Capacity {
  return CAPACITY[encoding];
}

/** "1 SMS", "3 SMS". An empty text still takes one. */
export function segmentLabel(segments: number): string {
  return `${Math.max(segments, 1)} SMS`;
}

/** Units left before the text needs one more SMS. */
export function remainingInSegment({ encoding, characters, segments }: Length): number {
  const { single, multipart } = CAPACITY[encoding];
  const room = segments <= 1 ? single : segments * multipart;
  return Math.max(room - characters, 0);
}

/** The line beside "2 SMS" under an editor: "142 characters · GSM-7 · 18 left before another SMS". */
export function describeLength(length: Length): string {
  const left = remainingInSegment(length);
  const plural = length.characters === 1 ? 'character' : 'characters';
  return `${length.characters} ${plural} · ${length.encoding} · ${left} left before another SMS`;
}

/** Shows a character so that spaces and invisible marks can be seen in a warning. */
function visible(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  if (/\s/u.test(char) || code < 0x20 || (code >= 0x200b && code <= 0x200f) || code === 0xfeff) {
    return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return `“${char}”`;
}

/**
 * Why a text went to UCS-2, or nothing when it is GSM-7. UCS-2 fits 70 characters in an
 * SMS instead of 160, so one curly quote can double the cost of a text.
 */
export function ucs2Warning(encoding: Encoding, nonGsm: readonly string[]): string | null {
  if (encoding !== 'UCS-2') return null;
  const { single } = CAPACITY['UCS-2'];
  const gsm = CAPACITY['GSM-7'].single;
  if (nonGsm.length === 0) {
    return `This text is sent as UCS-2: ${single} characters per SMS instead of ${gsm}.`;
  }
  const shown = nonGsm.slice(0, 5).map(visible);
  const more = nonGsm.length > 5 ? ` and ${nonGsm.length - 5} more` : '';
  const which = nonGsm.length === 1 ? `${shown[0]} is` : `${shown.join(', ')}${more} are`;
  return `${which} not in the GSM-7 alphabet, so this text is sent as UCS-2: ${single} characters per SMS instead of ${gsm}.`;
}
