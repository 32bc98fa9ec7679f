// The order workflow as the dashboard shows it: which statuses may follow which, and the
// words on the buttons. Mirrors the contract's table; the server still has the last word.
import type { OrderStatus } from '../api/types';

export const STATUSES: readonly OrderStatus[] = [
  'pending',
  'confirmed',
  'delayed',
  'delivered',
  'cancelled',
];

/** Statuses an order is still being worked on in: the board's default filter. */
export const OPEN_STATUSES: readonly OrderStatus[] = ['pending', 'confirmed', 'delayed'];

const NEXT: Record<OrderStatus, readonly OrderStatus[]> = {
  pending: ['confirmed', 'delayed', 'cancelled'],
  confirmed: ['delayed', 'delivered', 'cancelled'],
  delayed: ['confirmed', 'delivered', 'cancelled'],
  delivered: [],
  cancelled: [],
};

/** The statuses an order in `status` may move to, in workflow order. */
export function allowedNext(status: OrderStatus): readonly OrderStatus[] {
  return NEXT[status];
}

export function isFinal(status: OrderStatus): boolean {
  return NEXT[status].length === 0;
}

export function canChange(from: OrderStatus, to: OrderStatus): boolean {
  return NEXT[from].includes(to);
}

const LABELS: Record<OrderStatus, string> = {
  pending: 'Pending',
  confirmed: 'Confirmed',
  delayed: 'Delayed',
  delivered: 'Delivered',
  cancelled: 'Cancelled',
};

export function statusLabel(status: OrderStatus): string {
  return LABELS[status];
}

/** The words on the button that moves an order from `from` to `to`. */
export function actionLabel(from: OrderStatus, to: OrderStatus): string {
  switch (to) {
    case 'confirmed':
      return from === 'delayed' ? 'Back on time' : 'Confirm';
    case 'delayed':
      return 'Delay';
    case 'delivered':
      return 'Delivered';
    case 'cancelled':
      return 'Cancel order';
    case 'pending':
      return 'Pending';
  }
}

/** The main action a busy cook wants for an order: the next step forward, if any. */
export function primaryNext(status: OrderStatus): OrderStatus | undefined {
  return NEXT[status].find((next) => next !== 'cancelled' && next !== 'delayed') ?? NEXT[status][0];
}
