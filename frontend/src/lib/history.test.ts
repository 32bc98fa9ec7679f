import { describe, expect, it } from 'vitest';
import { describeEdit } from './history';

describe('describeEdit', () => {
  it('names one corrected detail', () => {
    expect(describeEdit(['phone'])).toBe('Corrected the phone number');
  });

  it('lists several in the order given, the last after "and"', () => {
    expect(describeEdit(['customer_name', 'items'])).toBe('Corrected the name and items');
    expect(describeEdit(['customer_name', 'phone', 'items'])).toBe('Corrected the name, phone number and items');
  });
});
