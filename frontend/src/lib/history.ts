// How an order's history reads on the panel: a status change names its two statuses
// (and the time it promised), an edit the details it corrected.
import type { OrderField } from '../api/types';

const FIELD_NAMES: Record<OrderField, string> = {
  customer_name: 'name',
  phone: 'phone number',
  items: 'items',
  notes: 'notes',
  eta: 'promised time',
};

/** "Corrected the phone number", "Corrected the name, phone number and items". */
export function describeEdit(changed: readonly OrderField[]): string {
  const names = changed.map((field) => FIELD_NAMES[field]);
  const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}` : names[0] ?? '';
  return `Corrected the ${list}`;
}

/** What a step said of the promised time: "ready by 19:45", "no time promised"; empty when it did not change it. */
export function describePromise(changed: readonly OrderField[], eta: string | null | undefined, clock: (at: string) => string): string {
  if (!changed.includes('eta')) return '';
  return eta ? `ready by ${clock(eta)}` : 'no time promised';
}
