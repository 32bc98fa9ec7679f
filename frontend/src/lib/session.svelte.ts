// Who is signed in: the API key (kept in this tab's sessionStorage, or in localStorage
// when the device is to stay signed in, as a kitchen tablet is), the role the server gave
// it, and why the user was sent back to sign-in, if they were.
import { createApi, unwrap, ApiFailure } from '../api/client';
import type { Role } from '../api/types';

const STORAGE = 'order-notify.session';

interface Stored {
  key: string;
  role: Role;
}

class Session {
  key = $state<string | null>(null);
  role = $state<Role | null>(null);
  /** Shown on the sign-in page: why the last attempt or session ended. */
  message = $state<string | null>(null);
  busy = $state(false);

  readonly api = createApi({
    key: () => this.key,
    onUnauthorized: () => this.expire('Your key is no longer accepted (it may have been revoked). Sign in again.'),
  });

  get isAdmin(): boolean {
    return this.role === 'admin';
  }

  /** Staff and admins run the kitchen; integration keys only see their own orders. */
  get isStaff(): boolean {
    return this.role === 'admin' || this.role === 'staff';
  }

  /** Whether the key is kept on this device (localStorage) rather than in this tab. */
  kept = $state(false);

  /** Picks up the key this tab, or else this device, kept. */
  restore(): void {
    for (const [storage, kept] of [
      [sessionStorage, false],
      [localStorage, true],
    ] as const) {
      try {
        const raw = storage.getItem(STORAGE);
        if (!raw) continue;
        const stored = JSON.parse(raw) as Stored;
        if (typeof stored.key === 'string' && typeof stored.role === 'string') {
          this.key = stored.key;
          this.role = stored.role;
          this.kept = kept;
          return;
        }
      } catch {
        storage.removeItem(STORAGE);
      }
    }
  }

  /**
   * Checks the key with the server, learns its role, and keeps it for this tab, or on
   * this device with `keep` (until "Sign out", or until the key is revoked).
   */
  async signIn(rawKey: string, keep = false): Promise<boolean> {
    const key = rawKey.trim();
    if (key === '') {
      this.message = 'Paste the API key you were given.';
      return false;
    }
    this.busy = true;
    this.message = null;
    try {
      const role = await discoverRole(key);
      if (role === null) {
        this.message = 'This key was not accepted. Check that it was copied whole, or ask an admin for a new one.';
        return false;
      }
      this.key = key;
      this.role = role;
      this.kept = keep;
      forget();
      const stored = JSON.stringify({ key, role } satisfies Stored);
      try {
        (keep ? localStorage : sessionStorage).setItem(STORAGE, stored);
      } catch {
        // Storage refused (private mode): signed in for this page only.
      }
      return true;
    } catch (failure) {
      this.message = failure instanceof ApiFailure ? failure.message : 'Could not reach the server. Try again.';
      return false;
    } finally {
      this.busy = false;
    }
  }

  /** Signs out here and forgets the key on this device, in this tab and the others. */
  signOut(message: string | null = null): void {
    this.key = null;
    this.role = null;
    this.kept = false;
    this.message = message;
    forget();
  }

  /**
   * Follows the other tabs of this device: signing out in one signs out all of them;
   * a key kept by another tab's sign-in is taken up.
   */
  followOtherTabs(): () => void {
    const onStorage = (event: StorageEvent) => {
      if (event.key !== STORAGE || event.storageArea !== localStorage) return;
      if (event.newValue === null && this.kept) {
        this.key = null;
        this.role = null;
        this.kept = false;
        this.message = 'You were signed out in another tab.';
      }
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }

  expire(message: string): void {
    if (this.key !== null) this.signOut(message);
  }
}

/** Forgets the key in both places it may be kept. */
function forget(): void {
  for (const storage of [sessionStorage, localStorage]) {
    try {
      storage.removeItem(STORAGE);
    } catch {
      // Nothing kept there.
    }
  }
}

/**
 * The role of a key, found by what it may read: keys are admin-only, templates are for
 * staff and admins. Null when the server does not know the key at all.
 */
async function discoverRole(key: string): Promise<Role | null> {
  const probe = createApi({ key: () => key });
  const keys = await probe.GET('/keys').catch(() => {
    throw new ApiFailure(null);
  });
  if (keys.response.status === 401) return null;
  if (keys.response.ok) return 'admin';
  if (keys.response.status !== 403) {
    await unwrap(Promise.resolve(keys));
  }
  const templates = await probe.GET('/templates').catch(() => {
    throw new ApiFailure(null);
  });
  return templates.response.ok ? 'staff' : 'integration';
}

export const session = new Session();
