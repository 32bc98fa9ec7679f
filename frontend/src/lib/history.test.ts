import { describe, expect, it } from 'vitest';
import { describeEdit, describePromise } from './history';

describe('describeEdit', () => {
  it('names one corrected detail', () => {
    expect(describeEdit(['phone'])).toBe('Corrected the phone number');
  });

  it('lists several in the order given, the last after "and"', () => {
    expect(describeEdit(['customer_name', 'items'])).toBe('Corrected the name and items');
    expect(describeEdit(['customer_name', 'phone', 'items'])).toBe('Corrected the name, phone number and items');
  });
});

describe('describePromise', () => {
  const clock = (at: string) => at.slice(11, 16);

  it('says the time a step promised, or that it withdrew it', () => {
    expect(describePromise(['eta'], '2026-11-30T19:45:00Z', clock)).toBe('ready by 19:45');
    expect(describePromise(['notes', 'eta'], null, clock)).toBe('no time promised');
  });

  it('says nothing of a step that left the time as it was', () => {
    expect(describePromise([], '2026-11-30T19:45:00Z', clock)).toBe('');
  });
});
