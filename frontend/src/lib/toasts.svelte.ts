// Outcomes of actions, shown briefly in one polite live region.

export type Tone = 'success' | 'error' | 'info';

export interface Toast {
  id: number;
  tone: Tone;
  text: string;
}

class Toasts {
  items = $state<Toast[]>([]);
  #next = 1;

  show(tone: Tone, text: string): void {
    const id = this.#next++;
    this.items = [...this.items.slice(-3), { id, tone, text }];
    // Errors stay longer: they usually need reading and acting on.
    setTimeout(() => this.dismiss(id), tone === 'error' ? 9000 : 4500);
  }

  success(text: string): void {
    this.show('success', text);
  }

  error(text: string): void {
    this.show('error', text);
  }

  dismiss(id: number): void {
    this.items = this.items.filter((toast) => toast.id !== id);
  }
}

export const toasts = new Toasts();
