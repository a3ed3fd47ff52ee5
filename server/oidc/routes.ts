/**
 * The provider in the Hono app: its endpoints are handed to oidc-provider (a Koa app) on the raw
 * Node request, and its interaction — who is signing in — is SpareKey's own /login.
 *
 * The path of a sign-in from an application:
 *   app → /oidc/auth → /interaction/:uid (a page whose same-site navigation brings back our
 *   SameSite=Strict cookies) → /interaction/:uid/resume: with a SpareKey session, the request is
 *   granted and the browser goes back to the app; without one, /login (password, MFA) and then
 *   /interaction/:uid again (see afterWebSignIn). The same detour, the request kept, when the app
 *   asks for a fresh sign-in (prompt=login, max_age) and when the user must first replace a reset
 *   password (/account/password, then /interaction/:uid again).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { type Context, Hono } from 'hono';
import { errors, type default as Provider } from 'oidc-provider';
import type { Deps } from '../deps';
import type { AppEnv } from '../http/context';
import { audit } from '../services/audit';
import { signOut } from '../services/auth';
import { resolveSession } from '../services/sessions';
import type { UserRecord } from '../store/types';
import { clearCookie, readCookie, SESSION_COOKIE, writeCookie } from '../web/cookies';
import { INTERACTION_PATH, OIDC_ROUTES, ProviderHost } from './provider';
import {
  acrOf,
  amrOf,
  rememberGrantSignIn,
  rememberWebSignIn,
  type SignIn,
  type SignInMethod,
  signInOfGrant,
  webSignIn,
} from './sign-ins';
import { contentSecurityPolicy, continuePage, errorPage } from './views';

/**
 * The authorization request waiting for the /login steps: the interaction's uid (a reference the
 * provider checks against its own cookie, no credential). Strict like every SpareKey cookie.
 */
const INTERACTION_COOKIE = { name: 'sparekey_oidc', path: '/', maxAge: () => 10 * 60 };

/** The provider's answers bypass hono's middleware, so they get the same headers here. */
function securityHeaders(deps: Deps): Record<string, string> {
  return {
    'Content-Security-Policy': contentSecurityPolicy(),
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    ...(deps.security.https ? { 'Strict-Transport-Security': 'max-age=31536000; includeSubDomains' } : {}),
  };
}

/** What the Koa side needs from the Hono request: a way to end this browser's SpareKey session. */
const webContexts = new WeakMap<IncomingMessage, { endSparekeySession: () => Promise<string[]> }>();

/**
 * The end of RP-initiated logout ends the SpareKey session of this browser too: on the server, and
 * its cookie in the browser (the confirmation's redirect carries the clearing Set-Cookie).
 */
function endSparekeySessionOnLogout(provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    const confirmed =
      ctx.method === 'POST' &&
      ctx.path === `${OIDC_ROUTES.end_session}/confirm` &&
      ctx.status >= 300 &&
      ctx.status < 400 &&
      Boolean(ctx.oidc?.params?.logout);
    const web = webContexts.get(ctx.req);
    if (!confirmed || !web) return;
    for (const cookie of await web.endSparekeySession()) ctx.append('Set-Cookie', cookie);
  });
}

/**
 * A logout asked for when this browser has no provider session needs no confirmation, so
 * oidc-provider answers with a page whose one inline script posts it on at once. Our policy forbids
 * scripts (the page would stay blank): it gets that script's hash, and a form-action that reaches the
 * application it returns to (already checked against the registered post-logout URIs).
 */
function allowSelfPostingLogout(provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    const state = ctx.oidc?.session?.state as { postLogoutRedirectUri?: string } | undefined;
    if (ctx.path !== OIDC_ROUTES.end_session || ctx.oidc?.session?.accountId || !state) return;
    const script = /<script>([\s\S]*?)<\/script>/.exec(String(ctx.body))?.[1];
    if (script === undefined) return;
    const target = state.postLogoutRedirectUri;
    ctx.set(
      'Content-Security-Policy',
      contentSecurityPolicy(target ? [new URL(target).origin] : [], [
        createHash('sha256').update(script).digest('base64'),
      ]),
    );
  });
}

/** Signs this browser out of SpareKey; resolves with the Set-Cookie headers that clear its cookie. */
async function endSparekeySession(c: Context<AppEnv>, deps: Deps): Promise<string[]> {
  const token = readCookie(c, deps, SESSION_COOKIE);
  if (!token) return [];
  await signOut(deps, c.get('meta'), token);
  // The answer is the provider's, not hono's: the cookie module writes the header here, and it is
  // handed over as written (name prefix and attributes stay the cookie module's business).
  const before = new Set(c.res.headers.getSetCookie());
  clearCookie(c, deps, SESSION_COOKIE);
  return c.res.headers.getSetCookie().filter((cookie) => !before.has(cookie));
}

function nodeBindings(c: Context): HttpBindings | null {
  const env = c.env as Partial<HttpBindings> | undefined;
  return env?.incoming && env.outgoing ? (env as HttpBindings) : null;
}

/** The path on this server as the browser sees it under PUBLIC_URL (which may carry a path). */
function publicPath(deps: Deps, path: string): string {
  return `${new URL(deps.security.publicUrl).pathname.replace(/\/$/, '')}${path}`;
}

/**
 * Whether the application asked for a sign-in newer than the session's: prompt=login (max_age=0 is
 * made into it by the provider), or a max_age the session's sign-in is older than. A sign-in made
 * after the request began answers either (so the detour through /login ends).
 */
function needsFreshSignIn(
  params: Record<string, unknown>,
  requestedAt: number,
  signIn: SignIn,
  now: number,
): boolean {
  if (signIn.at >= requestedAt) return false;
  const loginAsked = String(params.prompt ?? '')
    .split(' ')
    .includes('login');
  const maxAge = params.max_age === undefined ? null : Number(params.max_age);
  return loginAsked || (maxAge !== null && now - signIn.at > maxAge);
}

/**
 * The browser's grant for this application, reused while its user's password and MFA are those it
 * was made with; otherwise a new one. The old one's tokens are refused already (and revoked at their
 * first use, see findAccount): revoking it here would take this interaction with it (it names the grant).
 */
async function grantFor(
  deps: Deps,
  provider: Provider,
  grantId: string | undefined,
  user: UserRecord,
  clientId: string,
) {
  const existing = grantId ? await provider.Grant.find(grantId) : undefined;
  if (existing?.jti && existing.accountId === user.id && existing.clientId === clientId) {
    if (await signInOfGrant(deps, existing.jti, user)) return existing;
  }
  return new provider.Grant({ accountId: user.id, clientId });
}

/** What SpareKey adds to every provider it builds. */
function setUpProvider(provider: Provider): void {
  endSparekeySessionOnLogout(provider);
  allowSelfPostingLogout(provider);
}

export function oidcRoutes(deps: Deps, host = new ProviderHost(deps, setUpProvider)) {
  const app = new Hono<AppEnv>();
  const callbacks = new WeakMap<Provider, ReturnType<Provider['callback']>>();

  const bridge = async (c: Context<AppEnv>) => {
    const node = nodeBindings(c);
    // The in-process app (tests' app.request) has no Node request to hand over.
    if (!node) return c.json({ error: { code: 'not_found', message: 'No such endpoint.' } }, 404);
    const provider = await host.get();
    const { incoming, outgoing } = node;
    // URLs the provider writes (discovery, redirects) come from PUBLIC_URL, never from a client's Host.
    const issuer = new URL(deps.security.publicUrl);
    incoming.headers['x-forwarded-host'] = issuer.host;
    incoming.headers['x-forwarded-proto'] = issuer.protocol.slice(0, -1);
    delete incoming.headers['x-forwarded-for'];
    (incoming as IncomingMessage & { originalUrl?: string }).originalUrl = publicPath(
      deps,
      incoming.url ?? '/',
    );
    for (const [name, value] of Object.entries(securityHeaders(deps))) outgoing.setHeader(name, value);
    webContexts.set(incoming, { endSparekeySession: () => endSparekeySession(c, deps) });
    let callback = callbacks.get(provider);
    if (!callback) {
      callback = provider.callback();
      callbacks.set(provider, callback);
    }
    await callback(incoming, outgoing);
    return RESPONSE_ALREADY_SENT;
  };
  app.all('/.well-known/openid-configuration', bridge);
  app.all('/oidc', bridge);
  app.all('/oidc/*', bridge);

  /** The interaction the provider's cookie names, or null (expired, finished, or another browser's). */
  async function interaction(c: Context<AppEnv>, provider: Provider) {
    const node = nodeBindings(c);
    if (!node) return null;
    try {
      const details = await provider.interactionDetails(node.incoming, node.outgoing);
      return details.uid === c.req.param('uid') ? details : null;
    } catch {
      return null;
    }
  }

  const expired = (c: Context<AppEnv>) =>
    c.html(
      errorPage(
        'interaction_expired',
        'This sign-in request has expired or was already completed. Go back to the application and sign in again.',
      ),
      400,
    );

  app.get(`${INTERACTION_PATH}/:uid`, async (c) => {
    const provider = await host.get();
    const details = await interaction(c, provider);
    if (!details) return expired(c);
    const application = await deps.store.findApplicationByClientId(String(details.params.client_id));
    if (!application) return expired(c);
    return c.html(
      continuePage(application.name, publicPath(deps, `${INTERACTION_PATH}/${details.uid}/resume`)),
    );
  });

  app.get(`${INTERACTION_PATH}/:uid/resume`, async (c) => {
    const provider = await host.get();
    const details = await interaction(c, provider);
    const sessionToken = readCookie(c, deps, SESSION_COOKIE);
    const user = sessionToken ? await resolveSession(deps, sessionToken) : null;
    if (readCookie(c, deps, INTERACTION_COOKIE)) clearCookie(c, deps, INTERACTION_COOKIE);
    if (!details) return user ? c.redirect('/account', 303) : expired(c);
    const clientId = String(details.params.client_id);
    const application = await deps.store.findApplicationByClientId(clientId);
    if (!application) return expired(c);
    /** A web step first; the request waits in the cookie and resumes after it (afterWebSignIn). */
    const detour = (path: string) => {
      writeCookie(c, deps, INTERACTION_COOKIE, details.uid);
      return c.redirect(path, 303);
    };
    if (!user || !sessionToken) return detour('/login');
    // With no record of how and when this session signed in, none is made up: the password again.
    const signIn = await webSignIn(deps, sessionToken);
    const now = Math.floor(Date.now() / 1000);
    if (!signIn || needsFreshSignIn(details.params, details.iat, signIn, now)) {
      return detour('/login?notice=sign_in_again');
    }
    // A reset or generated password opens no application until it is replaced (as for /account).
    if (user.mustChangePassword) return detour('/account/password');

    // SpareKey's applications are registered by its admins: their users are not asked for consent.
    const grant = await grantFor(deps, provider, details.grantId, user, clientId);
    grant.addOIDCScope(String(details.params.scope ?? 'openid'));
    const grantId = await grant.save();
    await rememberGrantSignIn(deps, grantId, user, signIn);
    let next: string;
    try {
      next = await provider.interactionResult(
        nodeBindings(c)?.incoming as IncomingMessage,
        nodeBindings(c)?.outgoing as NonNullable<ReturnType<typeof nodeBindings>>['outgoing'],
        {
          login: { accountId: user.id, amr: amrOf(signIn.method), acr: acrOf(signIn.method), ts: signIn.at },
          consent: { grantId },
        },
        { mergeWithLastSubmission: false },
      );
    } catch (error) {
      // Gone since it was read: expired, or revoked with the grant it named (see findAccount).
      if (error instanceof errors.SessionNotFound) return expired(c);
      throw error;
    }
    await audit(deps, c.get('meta'), 'application_sign_in', {
      actor: user,
      subject: user,
      details: { applicationId: application.id, clientId, name: application.name, method: signIn.method },
    });
    return c.redirect(next, 303);
  });

  return app;
}

/**
 * Called by the web sign-in once it started a session: remembers how (for amr/acr), and says where
 * to go when the sign-in was for an application (else null: /account).
 *
 * That is the interaction's page, not straight to /resume: the sign-in is a form POST, and the
 * browser holds a form's whole redirect chain to the page's form-action 'self', so a chain that ends
 * at the application would be blocked. The page's own (GET) navigation onwards is not a form's.
 */
export async function afterWebSignIn(
  c: Context,
  deps: Deps,
  sessionToken: string,
  method: SignInMethod,
): Promise<string | null> {
  await rememberWebSignIn(deps, sessionToken, method);
  return pendingApplicationSignIn(c, deps);
}

/**
 * The interaction's page when an application's sign-in waits for this browser's web step (a sign-in,
 * a forced password change), else null.
 */
export function pendingApplicationSignIn(c: Context, deps: Deps): string | null {
  const uid = readCookie(c, deps, INTERACTION_COOKIE);
  return uid ? publicPath(deps, `${INTERACTION_PATH}/${uid}`) : null;
}
