/**
 * A per-client request budget kept in memory: at most `limit` requests in each window of `windowMs`
 * per address group (an IPv4 address, an IPv6 /64: `addressGroup`). For endpoints that answer
 * anyone and cost a write or a lookup each; sign-in attempts have their own stored limit
 * (services/throttle.ts), which holds across instances. This one is per instance: it bounds what
 * one client can make one process do, nothing more.
 */
import { LruCache } from '../store/lru-cache';
import { addressGroup } from './context';

interface Window {
  startedAt: number;
  count: number;
}

/** Clients remembered at once; the least recently seen is forgotten first. */
const DEFAULT_CAPACITY = 50_000;

export class RequestBudget {
  readonly #windows: LruCache<string, Window>;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    capacity = DEFAULT_CAPACITY,
  ) {
    this.#windows = new LruCache(capacity);
  }

  /** Counts a request of `address`; resolves with 0 when it is within budget, else the ms until it is. */
  take(address: string, now = Date.now()): number {
    const group = addressGroup(address);
    const current = this.#windows.get(group);
    const window =
      current && now - current.startedAt < this.windowMs ? current : { startedAt: now, count: 0 };
    if (window.count >= this.limit) return window.startedAt + this.windowMs - now;
    window.count++;
    this.#windows.set(group, window);
    return 0;
  }
}
