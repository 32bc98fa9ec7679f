// What the dashboard knows of the server's configuration (`GET /settings`, staff and
// admin keys): read once per signed-in key, so the forms can say what the server will do.
import { unwrap } from '../api/client';
import type { Settings } from '../api/types';
import { session } from './session.svelte';

class ServerSettings {
  /** `null` until read, or when this key may not read them (integration keys). */
  current = $state<Settings | null>(null);
  #for: string | null = null;

  /** Reads the settings for the signed-in key, once. */
  async load(): Promise<void> {
    const key = session.key;
    if (key === null || !session.isStaff || this.#for === key) return;
    this.#for = key;
    try {
      const settings = await unwrap(session.api.GET('/settings'));
      if (session.key === key) this.current = settings;
    } catch {
      // Without them the forms say less; the server's answer still says what is wrong.
      this.#for = null;
    }
  }

  clear(): void {
    this.current = null;
    this.#for = null;
  }
}

export const serverSettings = new ServerSettings();
