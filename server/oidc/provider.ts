/**
 * SpareKey as an OpenID Connect provider, built on oidc-provider (OpenID-certified; the protocol is
 * not written here). What this file decides: the authorization code flow only (PKCE S256 required
 * for public clients), exact redirect URIs, RS256 ID tokens, applications from the store as clients,
 * everything the provider keeps in the store, and the claims (docs/OIDC.md).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Deps } from '../deps';
import { hashClientSecret } from '../services/applications';
import type { ApplicationRecord, OidcKeys } from '../store/types';
import { ensureKeys, publishedKeys } from './keys';
import {
  type Account,
  type Adapter,
  type AdapterPayload,
  type Configuration,
  errors,
  interactionPolicy,
  type KoaContextWithOIDC,
  Provider,
} from './library';
import { claimsFor, signInOfGrant } from './sign-ins';
import { contentSecurityPolicy, errorPage, loggedOutPage, logoutPage } from './views';

/** The provider's endpoints, under /oidc so they never meet the API's or the web pages' paths. */
export const OIDC_ROUTES = {
  authorization: '/oidc/auth',
  token: '/oidc/token',
  userinfo: '/oidc/me',
  jwks: '/oidc/jwks',
  end_session: '/oidc/session/end',
  revocation: '/oidc/token/revocation',
  // Disabled features still need a path that is not /oidc's default-looking root.
  code_verification: '/oidc/device',
  device_authorization: '/oidc/device/auth',
  introspection: '/oidc/token/introspection',
  pushed_authorization_request: '/oidc/request',
  registration: '/oidc/reg',
  backchannel_authentication: '/oidc/backchannel',
  challenge: '/oidc/challenge',
} as const;

/** Everything the provider answers: its routes and discovery. */
export function isOidcPath(path: string): boolean {
  return path === '/.well-known/openid-configuration' || path === '/oidc' || path.startsWith('/oidc/');
}

export const INTERACTION_PATH = '/interaction';

const MINUTE = 60;
const HOUR = 60 * MINUTE;

/** The claim a relying party reads to tell its user that a backup code was spent (docs/OIDC.md). */
export const BACKUP_CODE_CLAIM = 'sparekey_backup_code';

/** oidc-provider's model name for applications, which the store keeps as ApplicationRecords. */
const CLIENT_MODEL = 'Client';

function clientMetadata(app: ApplicationRecord): AdapterPayload {
  const confidential = app.type === 'confidential';
  return {
    client_id: app.clientId,
    client_name: app.name,
    application_type: 'web',
    redirect_uris: app.redirectUris,
    post_logout_redirect_uris: app.postLogoutRedirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    // basic and post are both accepted for one registered method (oidc-provider treats them alike).
    token_endpoint_auth_method: confidential ? 'client_secret_basic' : 'none',
    // Only the hash: compareClientSecret below hashes what the client sends before comparing.
    ...(confidential && app.secretHash ? { client_secret: app.secretHash } : {}),
    id_token_signed_response_alg: 'RS256',
  };
}

/**
 * An Interaction carries a copy of the browser's provider session cookie (`session.cookie`, the
 * Session's id): a bearer value, which the store must not hold in clear. oidc-provider never reads
 * it back (it matches an interaction to its session by the session's uid), so it is left out.
 */
function storable(model: string, payload: Record<string, unknown>): Record<string, unknown> {
  const session = payload.session;
  if (model !== 'Interaction' || typeof session !== 'object' || session === null) return payload;
  const { cookie: _cookie, ...rest } = session as Record<string, unknown>;
  return { ...payload, session: rest };
}

/** The store behind every oidc-provider model; applications stand in for the Client model. */
function storeAdapter(deps: Deps) {
  const { store } = deps;
  return (model: string): Adapter => {
    if (model === CLIENT_MODEL) {
      return {
        async find(id) {
          const app = await store.findApplicationByClientId(id);
          return app ? clientMetadata(app) : undefined;
        },
        async upsert() {
          throw new Error('Clients are registered through the admin API only.');
        },
        async findByUid() {},
        async findByUserCode() {},
        async consume() {},
        async destroy() {},
        async revokeByGrantId() {},
      };
    }
    return {
      async upsert(id, payload, expiresIn) {
        const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : null;
        await store.oidcPut(model, id, storable(model, payload as Record<string, unknown>), expiresAt);
      },
      async find(id) {
        return ((await store.oidcGet(model, id)) as AdapterPayload | null) ?? undefined;
      },
      async findByUid(uid) {
        return ((await store.oidcFindByUid(model, uid)) as AdapterPayload | null) ?? undefined;
      },
      async findByUserCode(userCode) {
        return ((await store.oidcFindByUserCode(model, userCode)) as AdapterPayload | null) ?? undefined;
      },
      async consume(id) {
        // Only one of two concurrent exchanges of a code may win; the loser is a replay, and a
        // replay revokes what the code already gave (RFC 6749 §4.1.2).
        if (await store.oidcConsume(model, id, Math.floor(Date.now() / 1000))) return;
        const payload = await store.oidcGet(model, id);
        if (typeof payload?.grantId === 'string') await store.oidcRevokeByGrantId(payload.grantId);
        throw new errors.InvalidGrant('grant request is invalid');
      },
      async destroy(id) {
        await store.oidcDestroy(model, id);
      },
      async revokeByGrantId(grantId) {
        await store.oidcRevokeByGrantId(grantId);
      },
    };
  };
}

/**
 * SpareKey's own sign-in decides every authorization request: its session lives in a SameSite=Strict
 * cookie the provider cannot see on the redirect from an application, so the login prompt always
 * goes through our interaction, which reads that session on a same-site navigation (./interaction.ts).
 */
function interactionPolicyFor() {
  const policy = interactionPolicy.base();
  policy
    .get('login')
    ?.checks.add(
      new interactionPolicy.Check(
        'sparekey_session',
        'SpareKey confirms its own session for every authorization request',
        'login_required',
        (ctx) => !ctx.oidc.result?.login,
      ),
    );
  return policy;
}

/**
 * The account behind a token (a code, an access or refresh token) or a sign-in. A token's grant is
 * refused, and revoked with every token it gave, once its user is gone or its user's password or MFA
 * changed since the grant was made (or when nothing says how it was made).
 */
async function findAccount(deps: Deps, _ctx: KoaContextWithOIDC, sub: string, token?: unknown) {
  const user = await deps.store.getUser(sub);
  const grantId = (token as { grantId?: string } | undefined)?.grantId;
  const signIn = user && grantId ? await signInOfGrant(deps, grantId, user) : null;
  if (grantId && !signIn) {
    await deps.store.oidcRevokeByGrantId(grantId);
    return undefined;
  }
  if (!user) return undefined;
  const account: Account = {
    accountId: user.id,
    claims: () => ({ sub: user.id, ...claimsFor(user, signIn) }),
  };
  return account;
}

/**
 * A provider session nobody signed in to (an anonymous logout request stores one to hold its form
 * token) lives as long as an interaction, not a whole sign-in: a flood of them expires in minutes.
 */
export const ANONYMOUS_SESSION_TTL_S = 10 * MINUTE;

/**
 * The provider's cookie names. Under https, `__Host-` for the session cookie (Path=/, no Domain: no
 * sibling subdomain or plain-http answer can plant it) and `__Secure-` for the interaction cookies,
 * which oidc-provider scopes to the interaction's path, which `__Host-` forbids. Their `.sig`
 * companions take the same prefix, being named after them.
 */
export function cookieNames(https: boolean) {
  const names = { session: '_session', interaction: '_interaction', resume: '_interaction_resume' };
  if (!https) return names;
  return {
    session: `__Host-${names.session}`,
    interaction: `__Secure-${names.interaction}`,
    resume: `__Secure-${names.resume}`,
  };
}

/** What an application registered to receive its answers at (oidc-provider's Client has both, read-only). */
interface RegisteredUris {
  readonly redirectUris?: readonly string[];
  readonly postLogoutRedirectUris?: readonly string[];
}

/** The origin of each URI an application registered to receive its answers (and to go back to after a logout). */
function registeredOrigins(client: RegisteredUris): Set<string> {
  const origins = new Set<string>();
  for (const uri of [...(client.redirectUris ?? []), ...(client.postLogoutRedirectUris ?? [])]) {
    try {
      origins.add(new URL(uri).origin);
    } catch {
      // a registered URI is absolute (checked at registration): nothing to add otherwise
    }
  }
  return origins;
}

/**
 * CORS on the endpoints an application's own page may call (token, userinfo, revocation): only from
 * the origins of the application's registered redirect URIs. Discovery and JWKS are public documents
 * (oidc-provider answers them to any origin); the authorization and logout endpoints are navigations
 * and get no CORS header at all.
 */
export function corsAllowedFor(origin: string, client: RegisteredUris) {
  return registeredOrigins(client).has(origin);
}

export function providerConfiguration(deps: Deps, keys: OidcKeys): Configuration {
  const sessionTtl = Math.floor(deps.security.sessionMaxMs / 1000);
  return {
    adapter: storeAdapter(deps),
    clients: [],
    findAccount: (ctx, sub, token) => findAccount(deps, ctx, sub, token),
    jwks: { keys: publishedKeys(keys).map((key) => key.jwk) },
    cookies: {
      names: cookieNames(deps.security.https),
      keys: keys.cookieSecrets,
      // Lax: the browser must bring them back on the top-level redirect from an application.
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    // amr and acr ride with the openid scope, so every ID token says how its user signed in.
    claims: {
      openid: ['sub', 'amr', 'acr', 'auth_time', BACKUP_CODE_CLAIM],
      profile: ['preferred_username'],
      sid: null,
    },
    // The profile claims go into the ID token as well, so an application needs no userinfo call.
    conformIdTokenClaims: false,
    scopes: ['openid', 'profile', 'offline_access'],
    acrValues: ['urn:sparekey:acr:pwd', 'urn:sparekey:acr:mfa'],
    responseTypes: ['code'],
    // PKCE from every application, confidential ones too (RFC 9700 §2.1.1): oidc-provider 8 asked it
    // of all, 9 only of public clients by default. Every application guide in docs/OIDC.md sends it.
    pkce: { required: () => true },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    clientBasedCORS: (_ctx, origin, client) => corsAllowedFor(origin, client),
    // RS256 only: the stored client secret is a hash, so no HMAC algorithm may use it as a key.
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256'],
      userinfoSigningAlgValues: ['RS256'],
      requestObjectSigningAlgValues: ['RS256'],
      authorizationSigningAlgValues: ['RS256'],
    },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      introspection: { enabled: false },
      registration: { enabled: false },
      // Pushed authorization requests (RFC 9126) add an endpoint that stores a record for any
      // authenticated client and that no SpareKey application needs: off.
      pushedAuthorizationRequests: { enabled: false },
      // DPoP (RFC 9449, on by default since oidc-provider 9) stores a record per proof in the store
      // and changes what userinfo answers; no SpareKey application needs sender-constrained tokens:
      // off, as it was with 8.
      dPoP: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          // Sign out posts here and is redirected to the application's (registered, already
          // checked) post-logout URI: the browser holds that redirect to the page's form-action.
          const target = ctx.oidc.params?.post_logout_redirect_uri;
          const origin = typeof target === 'string' ? new URL(target).origin : 'null';
          ctx.set('Content-Security-Policy', contentSecurityPolicy(origin === 'null' ? [] : [origin]));
          ctx.type = 'html';
          ctx.body = String(await logoutPage(form));
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html';
          ctx.body = String(await loggedOutPage());
        },
      },
    },
    interactions: {
      policy: interactionPolicyFor(),
      url: (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}`,
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = String(await errorPage(out.error, out.error_description));
    },
    ttl: {
      AuthorizationCode: MINUTE,
      AccessToken: HOUR,
      IdToken: HOUR,
      Interaction: 10 * MINUTE,
      Grant: sessionTtl,
      Session: (_ctx, session) => (session.accountId ? sessionTtl : ANONYMOUS_SESSION_TTL_S),
      // A refresh token cannot outlive its grant (a refresh finds the grant expired): say so.
      RefreshToken: sessionTtl,
    },
    routes: OIDC_ROUTES,
    // A session cookie value and opaque tokens are 256 bits (the default), stored only as hashes.
  };
}

/** Compares in constant time the hash of what the client sent with the stored hash. */
function compareHashedSecret(stored: string | undefined, presented: string): boolean {
  if (!stored) return false;
  const a = Buffer.from(stored);
  const b = Buffer.from(hashClientSecret(presented));
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createProvider(deps: Deps, keys: OidcKeys): Provider {
  const provider = new Provider(deps.security.publicUrl, providerConfiguration(deps, keys));
  // The issuer's origin is the public address: the bridge sets the forwarded headers from PUBLIC_URL.
  provider.proxy = true;
  provider.Client.prototype.compareClientSecret = function compareClientSecret(
    this: { clientSecret?: string },
    actual: string,
  ) {
    return Promise.resolve(compareHashedSecret(this.clientSecret, actual));
  };
  return provider;
}

/**
 * The provider, built on first use (the issuer is PUBLIC_URL, which without PUBLIC_URL is known only
 * once the socket is bound) and rebuilt when the key set in the store changed (`npm run keys:rotate`):
 * a request more than OIDC_KEY_REFRESH_SECONDS (security.oidcKeyRefreshMs) after the last look reads
 * the key set again first, so every instance serves a rotated (or revoked) key within that time.
 */
export class ProviderHost {
  #provider: Provider | null = null;
  #fingerprint = '';
  #checkedAt = 0;
  #pending: Promise<Provider> | null = null;
  readonly #setUp: (provider: Provider) => void;

  constructor(
    private readonly deps: Deps,
    setUp: (provider: Provider) => void = () => {},
  ) {
    this.#setUp = setUp;
  }

  /** `maxAgeMs`: how long ago the key set may have been read from the store (OIDC_KEY_REFRESH_SECONDS). */
  get(maxAgeMs = this.deps.security.oidcKeyRefreshMs): Promise<Provider> {
    if (this.#provider && Date.now() - this.#checkedAt < maxAgeMs) return Promise.resolve(this.#provider);
    this.#pending ??= this.#refresh().finally(() => {
      this.#pending = null;
    });
    return this.#pending;
  }

  async #refresh(): Promise<Provider> {
    const keys = await ensureKeys(this.deps.store);
    const fingerprint = JSON.stringify([
      publishedKeys(keys).map((key) => key.kid),
      // A rotated cookie secret rebuilds the provider too; the fingerprint holds only its digest.
      createHash('sha256').update(JSON.stringify(keys.cookieSecrets)).digest('base64url'),
      this.deps.security.publicUrl,
    ]);
    if (!this.#provider || fingerprint !== this.#fingerprint) {
      const provider = createProvider(this.deps, keys);
      this.#setUp(provider);
      this.#provider = provider;
      this.#fingerprint = fingerprint;
    }
    this.#checkedAt = Date.now();
    return this.#provider;
  }
}
