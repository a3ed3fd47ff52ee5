/**
 * The provider's keys, shared by every instance through the store: RS256 signing keys (the newest
 * signs, retired ones stay published until the tokens they signed expired) and the secrets that sign
 * the provider's cookies.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { OidcKeys, OidcSigningKey, Store } from '../store/types';

/**
 * How long a retired key stays in the JWKS: longer than any token it signed lives (ID and access
 * tokens: one hour), so a relying party can still verify a token signed just before a rotation.
 */
export const RETIRED_KEY_KEEP_MS = 24 * 60 * 60_000;

function newSigningKey(now: number): OidcSigningKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(12).toString('base64url');
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  return { kid, jwk, createdAt: new Date(now).toISOString(), retiredAt: null };
}

const newCookieSecret = () => randomBytes(32).toString('base64url');

/** The key set, created on the very first start; of instances starting together, one creates it. */
export async function ensureKeys(store: Store, now = Date.now()): Promise<OidcKeys> {
  const keys = await store.updateOidcKeys((current) =>
    current && current.signing.length > 0 && current.cookieSecrets.length > 0
      ? null
      : { signing: [newSigningKey(now)], cookieSecrets: [newCookieSecret()] },
  );
  if (!keys) throw new Error('The store kept no OpenID Connect keys.');
  return keys;
}

export interface RotateOptions {
  /**
   * The previous keys are compromised: they leave the JWKS now instead of after RETIRED_KEY_KEEP_MS
   * (tokens they signed stop verifying), and the old cookie secrets are dropped rather than kept to
   * read cookies signed before the rotation.
   */
  revokePrevious?: boolean;
  now?: number;
}

/**
 * A new signing key takes over, and a new cookie secret signs the provider's cookies. The previous
 * key is retired but stays published (keys retired longer than RETIRED_KEY_KEEP_MS ago are dropped),
 * and the previous cookie secret still reads cookies set before; with `revokePrevious` both go at
 * once. Resolves with the new set.
 */
export async function rotateSigningKey(store: Store, options: RotateOptions = {}): Promise<OidcKeys> {
  const now = options.now ?? Date.now();
  const fresh = newSigningKey(now);
  const keys = await store.updateOidcKeys((current) => {
    if (options.revokePrevious) return { signing: [fresh], cookieSecrets: [newCookieSecret()] };
    const previous = (current?.signing ?? [])
      .map((key) => ({ ...key, retiredAt: key.retiredAt ?? new Date(now).toISOString() }))
      .filter((key) => now - Date.parse(key.retiredAt) < RETIRED_KEY_KEEP_MS);
    // oidc-provider signs cookies with the first secret and accepts any listed one.
    const [kept] = current?.cookieSecrets ?? [];
    return { signing: [fresh, ...previous], cookieSecrets: [newCookieSecret(), ...(kept ? [kept] : [])] };
  });
  if (!keys) throw new Error('The store kept no OpenID Connect keys.');
  return keys;
}

/** The keys as published and used: the signing key first (oidc-provider signs with the first). */
export function publishedKeys(keys: OidcKeys, now = Date.now()): OidcSigningKey[] {
  return keys.signing.filter(
    (key) => key.retiredAt === null || now - Date.parse(key.retiredAt) < RETIRED_KEY_KEEP_MS,
  );
}
