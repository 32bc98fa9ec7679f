import { describe, expect, it } from 'vitest';
import { fieldErrors, fieldLabel, fieldSentence, isProblem, problemSentence } from './problems';

describe('problem sentences', () => {
  it('explains a connection that never answered', () => {
    expect(problemSentence(null)).toMatch(/Could not reach the server/);
  });

  it('turns a refused transition into the statuses still possible', () => {
    const problem = {
      type: '/problems/invalid-transition',
      title: 'Status change not allowed',
      status: 409,
      detail: 'An order that is confirmed cannot become pending; it can become: delayed, delivered, cancelled.',
      allowed: ['delayed', 'delivered', 'cancelled'] as const,
    };
    expect(problemSentence({ ...problem, allowed: [...problem.allowed] })).toBe(
      'That change is no longer possible. The order can now become Delayed, Delivered or Cancelled.',
    );
    expect(problemSentence({ ...problem, allowed: [] })).toBe(
      'This order is finished, so its status can no longer change.',
    );
  });

  it('names the fields that failed validation', () => {
    const problem = {
      type: '/problems/validation',
      status: 422,
      title: 'Invalid request',
      detail: 'phone: not a phone number; items[1].quantity: must be at least 1',
      errors: [
        { field: 'phone', message: 'not a phone number' },
        { field: 'items[1].quantity', message: 'must be at least 1' },
      ],
    };
    expect(problemSentence(problem)).toBe(
      'Please check: Phone: not a phone number; Item 2 quantity: must be at least 1.',
    );
    expect(fieldErrors(problem)).toEqual({
      phone: 'not a phone number',
      'items[1].quantity': 'must be at least 1',
    });
  });

  it('tells staff about an opted-out customer in plain words', () => {
    const sentence = problemSentence({
      type: '/problems/conflict',
      title: 'Customer opted out',
      status: 409,
      detail: '+31612345678 texted STOP; no text is sent until they text START.',
    });
    expect(sentence).toMatch(/texted STOP, so no text was sent/);
  });

  it('uses Retry-After for 429', () => {
    expect(problemSentence({ status: 429 }, { retryAfter: '3' })).toBe(
      'Too many requests just now. Wait 3 s and try again.',
    );
    expect(problemSentence({ status: 429 })).toMatch(/Wait a moment/);
  });

  it('covers the remaining statuses without leaking internals', () => {
    expect(problemSentence({ status: 401 })).toMatch(/key was not accepted/);
    expect(problemSentence({ status: 403 })).toMatch(/role is not allowed/);
    expect(problemSentence({ status: 412 })).toMatch(/changed this order first/);
    expect(problemSentence({ status: 500, detail: 'stack trace' })).not.toMatch(/stack/);
    expect(problemSentence({ status: 500, request_id: '0190f3b2' })).toMatch(/\(Reference: 0190f3b2\)$/);
    expect(problemSentence({ status: 409, detail: 'An order with external_ref "A1" exists' })).toBe(
      'An order with external_ref "A1" exists.',
    );
  });

  it('labels fields as the form does', () => {
    expect(fieldLabel('customer_name')).toBe('Name');
    expect(fieldLabel('items[0].name')).toBe('Item 1 name');
    expect(fieldLabel('items[4]')).toBe('Item 5');
    expect(fieldLabel('some_field')).toBe('some field');
  });

  it('recognises problem documents', () => {
    expect(isProblem({ status: 422, title: 'x' })).toBe(true);
    expect(isProblem('boom')).toBe(false);
    expect(isProblem(null)).toBe(false);
  });
});

describe('fieldSentence', () => {
  it('puts the field in front of a bare rule, and ends with a stop', () => {
    expect(fieldSentence('customer_name', 'must not be empty')).toBe('Name must not be empty.');
    expect(fieldSentence('items[1].quantity', 'must be at least 1')).toBe('Item 2 quantity must be at least 1.');
  });

  it('keeps a message that names its own subject, capitalised', () => {
    expect(fieldSentence('phone', '"06" is not a phone number')).toBe('"06" is not a phone number.');
    expect(fieldSentence('phone', 'texts to GB numbers are not enabled (ORDER_NOTIFY_ALLOWED_COUNTRIES)')).toBe(
      'Texts to GB numbers are not enabled (ORDER_NOTIFY_ALLOWED_COUNTRIES).',
    );
  });
});
