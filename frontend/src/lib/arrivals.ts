// New orders as the kitchen notices them: an order that arrives while the board is open
// is "new" (highlighted, counted in the tab's title, announced with a chime) until
// someone acknowledges it, by any action on it or by "Seen". The orders already there
// when the board first loads are not new.

export interface Arrival {
  id: string;
  status: string;
}

export class Arrivals {
  #known = new Set<string>();
  #unseen = new Set<string>();
  #primed = false;

  /**
   * Takes the open orders just read and returns those that arrived since the last read
   * (pending ones this board had not seen). The first read only learns what is there.
   */
  observe(orders: readonly Arrival[]): string[] {
    const arrived: string[] = [];
    const open = new Set<string>();
    for (const order of orders) {
      open.add(order.id);
      if (this.#known.has(order.id)) continue;
      this.#known.add(order.id);
      if (this.#primed && order.status === 'pending') {
        this.#unseen.add(order.id);
        arrived.push(order.id);
      }
    }
    // An order that left the open columns (done elsewhere) needs no one's attention.
    for (const id of this.#unseen) if (!open.has(id)) this.#unseen.delete(id);
    this.#primed = true;
    return arrived;
  }

  /** An order this board made or acted on: never new. */
  acknowledge(id: string): void {
    this.#known.add(id);
    this.#unseen.delete(id);
  }

  isNew(id: string): boolean {
    return this.#unseen.has(id);
  }

  get count(): number {
    return this.#unseen.size;
  }

  /** Forgets everything (on sign-out): the next key's first read learns afresh. */
  reset(): void {
    this.#known.clear();
    this.#unseen.clear();
    this.#primed = false;
  }
}

/** The tab's title: the number of new orders first, so it shows on a crowded tab bar. */
export function titleWith(count: number, title: string): string {
  return count > 0 ? `(${count}) ${title}` : title;
}
