// How an order's history reads on the panel: a status change names its two statuses,
// an edit the details it corrected.
import type { OrderField } from '../api/types';

const FIELD_NAMES: Record<OrderField, string> = {
  customer_name: 'name',
  phone: 'phone number',
  items: 'items',
};

/** "Corrected the phone number", "Corrected the name, phone number and items". */
export function describeEdit(changed: readonly OrderField[]): string {
  const names = changed.map((field) => FIELD_NAMES[field]);
  const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}` : names[0] ?? '';
  return `Corrected the ${list}`;
}
