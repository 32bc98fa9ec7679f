import { describe, expect, it } from 'vitest';
import { describeLength, remainingInSegment, segmentLabel, ucs2Warning } from './segments';

describe('segment display', () => {
  it('counts down to the end of a single GSM-7 SMS', () => {
    expect(remainingInSegment({ encoding: 'GSM-7', characters: 142, segments: 1 })).toBe(18);
    expect(remainingInSegment({ encoding: 'GSM-7', characters: 160, segments: 1 })).toBe(0);
  });

  it('uses the smaller multipart size once a text is split', () => {
    // 161 septets need two parts of 153: 306 in all.
    expect(remainingInSegment({ encoding: 'GSM-7', characters: 161, segments: 2 })).toBe(145);
    expect(remainingInSegment({ encoding: 'UCS-2', characters: 71, segments: 2 })).toBe(63);
  });

  it('knows UCS-2 holds 70 in one SMS', () => {
    expect(remainingInSegment({ encoding: 'UCS-2', characters: 60, segments: 1 })).toBe(10);
  });

  it('says how many SMS in words staff know', () => {
    expect(segmentLabel(2)).toBe('2 SMS');
    expect(segmentLabel(0)).toBe('1 SMS');
    expect(describeLength({ encoding: 'GSM-7', characters: 1, segments: 1 })).toBe(
      '1 character · GSM-7 · 159 left before another SMS',
    );
  });

  it('names the characters that force UCS-2', () => {
    expect(ucs2Warning('GSM-7', [])).toBeNull();
    expect(ucs2Warning('UCS-2', ['’'])).toBe(
      '“’” is not in the GSM-7 alphabet, so this text is sent as UCS-2: 70 characters per SMS instead of 160.',
    );
    expect(ucs2Warning('UCS-2', ['’', '😀'])).toMatch(/^“’”, “😀” are not in/);
  });

  it('makes invisible culprits visible and shortens long lists', () => {
    expect(ucs2Warning('UCS-2', ['\u200b'])).toMatch(/^U\+200B is not/);
    const many = ['α', 'β', 'γ', 'δ', 'ε', 'ζ', 'η'];
    expect(ucs2Warning('UCS-2', many)).toMatch(/“ε” and 2 more are not/);
  });
});
