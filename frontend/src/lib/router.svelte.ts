// Hash routes (`#/templates`), so that no page address can collide with an API path and
// the server needs to know only index.html.

export type Page = 'board' | 'new' | 'failed' | 'templates' | 'sandbox' | 'keys' | 'webhooks';

export interface Route {
  page: Page;
  /** The order whose panel is open on the board. */
  orderId: string | null;
}

const PAGES: readonly Page[] = ['board', 'new', 'failed', 'templates', 'sandbox', 'keys', 'webhooks'];

/** Reads a location hash: `#/order/<id>` is the board with that order's panel open. */
export function parseHash(hash: string): Route {
  const path = hash.replace(/^#\/?/, '').split('?')[0] ?? '';
  const [first = '', second = ''] = path.split('/');
  if (first === 'order' && /^[0-9a-f-]{36}$/i.test(second)) {
    return { page: 'board', orderId: second.toLowerCase() };
  }
  const page = PAGES.find((p) => p === first) ?? 'board';
  return { page, orderId: null };
}

export function hrefFor(page: Page, orderId: string | null = null): string {
  if (orderId) return `#/order/${orderId}`;
  return page === 'board' ? '#/' : `#/${page}`;
}

class Router {
  route = $state<Route>(parseHash(typeof location === 'undefined' ? '' : location.hash));

  start(): () => void {
    const update = () => {
      this.route = parseHash(location.hash);
    };
    window.addEventListener('hashchange', update);
    update();
    return () => window.removeEventListener('hashchange', update);
  }

  go(page: Page, orderId: string | null = null): void {
    const target = hrefFor(page, orderId);
    if (location.hash !== target) location.hash = target;
    this.route = { page, orderId };
  }
}

export const router = new Router();

/**
 * Takes the key from a first-start link (`/#key=onk_…`) and removes it from the address
 * bar and history at once, so it is not left in the URL.
 */
export function takeKeyFromLocation(): string | null {
  const match = /^#key=([^&]+)/.exec(location.hash);
  if (!match?.[1]) return null;
  history.replaceState(null, '', `${location.pathname}${location.search}#/`);
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}
