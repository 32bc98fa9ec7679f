// The "Failed texts" list: texts that failed for good, and what this visit did about
// each (a retry, a corrected number) with the text it queued.
import type { Notification } from '../api/types';

export interface FailedEntry {
  failed: Notification;
  /** What was done about it in this visit, and the text queued since. */
  done?: { note: string; queued: Notification };
}

/**
 * The list after a re-read. `current` is the list as it stands once the reads are
 * back (not as it stood when they began: a retry answered meanwhile is kept), `failed`
 * the failed texts just read, `latest` the texts just read about the orders handled
 * here, by id, to keep each queued text's state current. Newest failure first.
 */
export function mergeFailed(current: FailedEntry[], failed: Notification[], latest: Map<string, Notification>): FailedEntry[] {
  const handled = current
    .filter((entry) => entry.done)
    .map((entry) => {
      const queued = latest.get(entry.done!.queued.id);
      return queued ? { ...entry, done: { ...entry.done!, queued } } : entry;
    });
  const fresh = failed.filter((text) => !handled.some((entry) => entry.failed.id === text.id)).map((text) => ({ failed: text }));
  return [...handled, ...fresh].sort((a, b) => (a.failed.created_at < b.failed.created_at ? 1 : -1));
}
