// Status changes made from the board. A final step (Delivered, Cancel) waits five
// seconds with "Undo" on the card before it is sent, so a wrong tap reaches neither the
// server nor the customer; the others are sent at once.
import { failureSentence } from '../api/client';
import type { Order, OrderStatus } from '../api/types';
import { board } from './board.svelte';
import { changeSentence, changeStatus, firstName, notifyCustomer } from './orders';
import { clockTime } from './timer';
import { toasts } from './toasts.svelte';
import { isFinal } from './transitions';
import { PendingSteps, type Pending } from './undo';

export interface Step {
  to: OrderStatus;
  notify: boolean;
  eta?: string;
}

class Steps {
  /** Bumped whenever a step starts waiting or stops, so cards re-read `waiting`. */
  #version = $state(0);
  /** Orders with a request in flight. */
  sending = $state<string[]>([]);
  #pending = new PendingSteps<Step>((id, step) => void this.#send(id, step), {
    changed: () => this.#version++,
  });

  /** The final step waiting to be sent for this order, if any. */
  waiting(id: string): Pending<Step> | undefined {
    void this.#version;
    return this.#pending.get(id);
  }

  /**
   * Takes a step: a final one waits for "Undo", the others go at once. Resolves when
   * a step sent at once was answered.
   */
  async take(order: Order, step: Step): Promise<void> {
    board.acknowledge(order.id);
    if (isFinal(step.to)) {
      this.#pending.schedule(order.id, step);
      return;
    }
    await this.#send(order.id, step, order);
  }

  undo(id: string): void {
    this.#pending.undo(id);
  }

  /** Sends every waiting step now (the page is being left). */
  flush(): void {
    this.#pending.flush();
  }

  async #send(id: string, step: Step, given?: Order): Promise<void> {
    // The board's copy is the freshest (a live update may have come in while waiting).
    const order = board.find(id) ?? given;
    if (!order || this.sending.includes(id)) return;
    this.sending = [...this.sending, id];
    try {
      const { order: changed, notification } = await changeStatus(order, step.to, step.notify, step.eta);
      if (order.status === step.to && step.eta) {
        // Pushed back again in the same status: the server only moves the time (and
        // texts nobody), so the customer is told the new time here.
        const text = step.notify ? await notifyCustomer(order.id) : null;
        const at = changed.eta ? clockTime(new Date(changed.eta)) : 'no time';
        toasts.success(`${firstName(changed.customer_name)}: now ${at}, ${text ? 'customer will be texted' : 'no text sent'}.`);
        board.update(text ? { ...changed, last_notification: text } : changed);
        return;
      }
      toasts.success(changeSentence(changed, notification, !step.notify));
      board.update(notification ? { ...changed, last_notification: notification } : changed);
    } catch (failure) {
      toasts.error(failureSentence(failure));
      void board.refresh();
    } finally {
      this.sending = this.sending.filter((other) => other !== id);
    }
  }
}

export const steps = new Steps();
