/**
 * The brakes on account changes that are not sign-ins but cost argon2id work: generating a set of
 * backup codes (one hash for the password, one per code: up to 21) and changing one's password
 * (three). Without them a signed-in user could ask in a loop and take the machine's hashing from
 * everyone else. The hash queue already serves sign-ins first and keeps a slot from this work
 * (crypto/hash-queue.ts); these limits bound what any one user or address may ask for at all.
 *
 * Per user and per client address (an IPv6 client is its /64): at most a few of each kind of change
 * in a sliding minute. Each change reserves its place before any hashing, in the store, under the
 * key's lock: the same reservation the per-address sign-in throttle makes (store.reserveIpAttempt),
 * on keys of their own. So the limit holds however many requests arrive at once, on however many
 * instances share a PostgreSQL store. A change that fails (a wrong password, a refusal, a fault)
 * gives its places back: only a change made costs the user one. While sign-ins are being shed, no
 * such change starts (503 with Retry-After, nothing reserved): it would only wait behind them.
 */
import type { Deps, RequestMeta } from '../deps';
import { addressGroup } from '../http/context';
import { ApiError, overloaded } from '../http/errors';
import type { UserRecord } from '../store/types';

export type CostlyChange = 'backup_codes' | 'password_change';

/**
 * The sliding window of the limits. Per user (security.changeLimitPerUser, default 3): one change,
 * and a second and third for a mistake. Per client address (changeLimitPerAddress, default 20),
 * whoever asks: an office shares one.
 */
const CHANGE_WINDOW_MS = 60_000;

export const tooManyChanges = () =>
  new ApiError(
    429,
    'too_many_requests',
    'This was done too often in the last minute. Try again in a minute.',
    {
      retryAfter: CHANGE_WINDOW_MS / 1000,
    },
  );

/** The reservation keys of a change: never an address, so never one of the sign-in throttle's. */
function limitKeys(deps: Deps, kind: CostlyChange, user: UserRecord, address: string | null) {
  return [
    { key: `${kind}:user:${user.id}`, limit: deps.security.changeLimitPerUser },
    ...(address
      ? [{ key: `${kind}:address:${addressGroup(address)}`, limit: deps.security.changeLimitPerAddress }]
      : []),
  ];
}

/**
 * Runs `change` once its user and its address each have room for one more `kind` change in the
 * window; otherwise 429 with Retry-After, and nothing is reserved. If `change` throws, its places
 * are given back.
 */
export async function limitedChange<T>(
  deps: Deps,
  kind: CostlyChange,
  user: UserRecord,
  meta: RequestMeta,
  change: () => Promise<T>,
): Promise<T> {
  const busyS = deps.signInGate?.otherWorkRetryAfterS() ?? null;
  if (busyS !== null) throw overloaded(busyS);
  const now = deps.clock.now();
  const at = new Date(now).toISOString();
  const since = new Date(now - CHANGE_WINDOW_MS).toISOString();
  const reserved: string[] = [];
  const giveBack = () => Promise.all(reserved.map((key) => deps.store.releaseIpAttempt(key, at)));
  for (const { key, limit } of limitKeys(deps, kind, user, meta.ip)) {
    if (!(await deps.store.reserveIpAttempt(key, since, limit, at))) {
      await giveBack();
      throw tooManyChanges();
    }
    reserved.push(key);
  }
  let result: T;
  try {
    result = await change();
  } catch (error) {
    await giveBack();
    throw error;
  }
  // The change is done: its places count until the window ends, across a restart too.
  await Promise.all(reserved.map((key) => deps.store.keepIpAttempts(key)));
  return result;
}
