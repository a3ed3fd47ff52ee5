/**
 * Sheds sign-in attempts when argon2id is overloaded (crypto/hash-queue.ts). The decision is taken
 * once the request body has arrived and before it is judged: nothing about the account is looked up,
 * so a shed attempt says nothing about whether the user exists, and nothing is counted (no lockout,
 * no per-address failure, no audit). A client back before its Retry-After gets the same 503, only
 * later: see HashQueue.admit.
 *
 * The body is read first, within a few seconds, because an attempt let in counts as work ahead until
 * it is answered: one admitted before its body arrived would let a client that sends headers and then
 * trickles (or withholds) the body keep the queue "busy" for as long as its socket lives, and shed
 * every other sign-in. A body that has not arrived in time gets 408 and the connection is closed.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { Deps } from '../deps';
import { type AppEnv, addressGroup } from './context';
import { ApiError, overloaded } from './errors';

/** Every request that starts or continues a sign-in by judging a secret, in the API and the web pages. */
export const SIGN_IN_PATHS = [
  '/api/auth/login',
  '/api/auth/mfa',
  '/api/auth/enroll',
  '/login',
  '/login/mfa',
  '/login/enroll',
] as const;

const signInPaths: ReadonlySet<string> = new Set(SIGN_IN_PATHS);
export const isSignInPath = (path: string) => signInPaths.has(path);

export const bodyTimedOut = (timeoutMs: number) => {
  const seconds = Math.max(1, Math.round(timeoutMs / 1000));
  return new ApiError(
    408,
    'request_timeout',
    `The request body did not arrive within ${seconds} second${seconds === 1 ? '' : 's'}. Send the request again.`,
  );
};

/**
 * Reads the whole body through `limit` (the app's body size limit; Hono keeps the body for the
 * handler) or throws 408 after `timeoutMs`, whether the body comes with a length or in chunks.
 */
async function readBodyWithin(
  c: Context<AppEnv>,
  limit: MiddlewareHandler,
  timeoutMs: number,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((answer) => {
    timer = setTimeout(() => answer('late'), timeoutMs);
  });
  const read = limit(c, async () => {
    await c.req.text();
  });
  try {
    if ((await Promise.race([read, late])) !== 'late') return;
  } finally {
    clearTimeout(timer);
  }
  // The rest of the body may never come: the connection goes with the answer rather than wait for it.
  c.header('Connection', 'close');
  throw bodyTimedOut(timeoutMs);
}

const signInDeps = new WeakMap<Deps, Deps>();

/**
 * The deps a sign-in route runs its services with: the same, but argon2id through the gate's
 * sign-in hasher, so its hashes go before any other work. Without a gate (tests), `deps` itself.
 */
export function forSignIn(deps: Deps): Deps {
  const gate = deps.signInGate;
  if (!gate) return deps;
  let found = signInDeps.get(deps);
  if (!found) {
    // Inherits every other field live from `deps` (main.ts sets some after building it).
    found = Object.create(deps, { hasher: { value: gate.signInHasher, enumerable: true } }) as Deps;
    signInDeps.set(deps, found);
  }
  return found;
}

/**
 * For each sign-in POST: the body within SIGN_IN_BODY_TIMEOUT_MS and `limit`, then the gate (when
 * there is one): admitted, the attempt counts until it is answered (its route hashes through
 * `forSignIn`).
 */
export function admitSignIn(
  deps: Pick<Deps, 'signInGate' | 'security'>,
  limit: MiddlewareHandler,
): MiddlewareHandler<AppEnv> {
  const gate = deps.signInGate;
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    await readBodyWithin(c, limit, deps.security.signInBodyTimeoutMs);
    if (!gate) return next();
    const address = c.get('meta').ip;
    const admission = gate.admit(address && addressGroup(address));
    if (!admission.admitted) {
      await admission.held;
      throw overloaded(admission.retryAfterS);
    }
    try {
      await next();
    } finally {
      admission.release();
    }
  };
}
