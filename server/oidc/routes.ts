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
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { type Context, Hono } from 'hono';
import type { Deps } from '../deps';
import { type AppEnv, nodeBindings } from '../http/context';
import { STORE_RETRY_AFTER_S, tooManyRequests } from '../http/errors';
import { RequestBudget } from '../http/rate-limit';
import { type Logger, silentLogger } from '../log';
import { audit } from '../services/audit';
import { signOut } from '../services/auth';
import { resolveSession } from '../services/sessions';
import { StoreUnavailableError, type UserRecord } from '../store/types';
import { clearCookie, readCookie, SESSION_COOKIE, writeCookie } from '../web/cookies';
import { errors, type Provider } from './library';
import { corsAllowedFor, INTERACTION_PATH, OIDC_ROUTES, ProviderHost } from './provider';
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
import {
  contentSecurityPolicy,
  continuePage,
  errorPage,
  getOnlyPage,
  logoutForm,
  logoutPage,
  unavailablePage,
} from './views';

/**
 * The authorization request waiting for the /login steps: the interaction's uid (a reference the
 * provider checks against its own cookie, no credential). Strict like every SpareKey cookie.
 */
const INTERACTION_COOKIE = { name: 'sparekey_oidc', path: '/', maxAge: () => 10 * 60 };

/** What the Koa side needs from the Hono request: a way to end this browser's SpareKey session. */
const webContexts = new WeakMap<
  IncomingMessage,
  { requestId: string; endSparekeySession: () => Promise<string[]> }
>();

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
 * A logout asked for when this browser has no provider session needs no confirmation as far as
 * oidc-provider knows, so it answers with a page that posts itself on at once. But that post, made
 * from SpareKey's own origin, carries SpareKey's Strict session cookie and ends the SpareKey session:
 * any site could sign a user out by sending the browser here. So it gets the same confirmation page
 * as a signed-in logout, with a button and no script: the SpareKey session ends only on a click.
 * (The form token is the one oidc-provider stored in its session state; the form posts it with
 * logout=yes, as its own page would have.)
 */
function confirmAnonymousLogout(provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    const session = ctx.oidc?.session;
    const state = session?.state as { secret?: string; postLogoutRedirectUri?: string } | undefined;
    if (ctx.path !== OIDC_ROUTES.end_session || session?.accountId || typeof state?.secret !== 'string')
      return;
    if (ctx.status !== 200) return;
    const target = state.postLogoutRedirectUri;
    ctx.set('Content-Security-Policy', contentSecurityPolicy(target ? [new URL(target).origin] : []));
    ctx.type = 'html';
    ctx.body = String(
      await logoutPage(String(logoutForm(ctx.oidc.urlFor('end_session_confirm'), state.secret))),
    );
  });
}

/**
 * An authorization answered with response_mode=form_post is oidc-provider's page whose one inline
 * script posts the code to the application. Our policy forbids scripts and forms to other sites: this
 * page gets that script's hash and a form-action of the redirect URI's origin (checked against the
 * application's registered URIs before any answer goes there; an unchecked one gets an error page).
 */
function allowFormPostResponses(provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    const redirectUri = ctx.oidc?.params?.redirect_uri;
    if (ctx.oidc?.params?.response_mode !== 'form_post' || typeof redirectUri !== 'string') return;
    if (!ctx.oidc.client?.redirectUriAllowed(redirectUri)) return;
    const body = typeof ctx.body === 'string' ? ctx.body : '';
    const script = /<script>([\s\S]*?)<\/script>/.exec(body)?.[1];
    if (script === undefined || !body.includes('<form method="post"')) return;
    ctx.set(
      'Content-Security-Policy',
      contentSecurityPolicy(
        [new URL(redirectUri).origin],
        [createHash('sha256').update(script).digest('base64')],
      ),
    );
  });
}

/** The endpoints an application's page may call with CORS, for the application's own origins. */
const CLIENT_CORS_PATHS = new Set<string>([OIDC_ROUTES.token, OIDC_ROUTES.userinfo, OIDC_ROUTES.revocation]);

/**
 * oidc-provider writes the request's Origin into Access-Control-Allow-Origin before it knows the
 * client, and checks it (clientBasedCORS) only once a client is found: an answer with no client (a
 * token that is not one) would go to any origin. Those lose the header here. Preflights stay open:
 * they carry no credential to tell the client by, and the request itself is then checked.
 */
function corsOnlyForRegisteredOrigins(provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    const origin = ctx.get('Origin');
    if (!origin || ctx.method === 'OPTIONS' || !CLIENT_CORS_PATHS.has(ctx.path)) return;
    const client = ctx.oidc?.client;
    if (client && corsAllowedFor(origin, client)) return;
    for (const name of Object.keys(ctx.response.headers)) {
      if (name.toLowerCase().startsWith('access-control-')) ctx.remove(name);
    }
  });
}

/**
 * The authorization and logout endpoints take GET only since oidc-provider 9: a POST there would
 * need the provider's session cookie to be SameSite=None, which lets any site send it along.
 */
const GET_ONLY_PATHS = new Set<string>([OIDC_ROUTES.authorization, OIDC_ROUTES.end_session]);

/**
 * A request no route of the provider takes (an unknown path, or a method its path does not take)
 * falls through oidc-provider 9 to Koa's bare text "Not Found". It is answered in OAuth's error shape,
 * as oidc-provider 8 did, for an application's library to read. A form posted to the authorization or
 * logout endpoint is told that it must be a GET: 405 with Allow, and a page for a browser.
 */
function answerUnknownRoutes(provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    // A route of the provider always writes a body, its errors too.
    if (ctx.status !== 404 || ctx.body != null) return;
    const getOnly = GET_ONLY_PATHS.has(ctx.path);
    if (getOnly && ctx.accepts('json', 'html') === 'html') {
      ctx.type = 'html';
      ctx.body = String(getOnlyPage());
    } else {
      ctx.body = {
        error: 'invalid_request',
        error_description: getOnly
          ? `${ctx.path} takes GET requests only, not ${ctx.method}`
          : `unrecognized route or not allowed method (${ctx.method} on ${ctx.path})`,
      };
    }
    // After the body, which Koa would otherwise answer with 200.
    ctx.status = getOnly ? 405 : 404;
    if (getOnly) ctx.set('Allow', 'GET, HEAD');
  });
}

/**
 * The store out of reach is the server's state, not a fault of the request: like the rest of the
 * app, 503 with Retry-After instead of oidc-provider's 500 server_error. A browser gets SpareKey's
 * page; anything else the OAuth error shape with `temporarily_unavailable` (RFC 6749 §4.1.2.1), so
 * an application's OAuth library reads it as it reads every other provider error. Every
 * server_error is logged: the error's name and message, the path (never a query, body or token).
 */
function answerUnavailableAs503(provider: Provider, log: Logger): void {
  const unavailable = new WeakSet<object>();
  provider.on('server_error', (ctx, error) => {
    if (error instanceof StoreUnavailableError) unavailable.add(ctx);
    log.error('oidc server error', {
      requestId: webContexts.get(ctx.req)?.requestId,
      path: ctx.path,
      error: `${error.name}: ${error.message}`,
    });
  });
  provider.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      unavailable.add(ctx);
    }
    if (!unavailable.has(ctx)) return;
    const answer = unavailableAnswer(ctx.accepts('json', 'html') === 'html');
    ctx.status = 503;
    ctx.remove('Location');
    ctx.set('Retry-After', String(STORE_RETRY_AFTER_S));
    ctx.type = answer.type;
    ctx.body = answer.body;
  });
}

/** The 503 of every provider endpoint while the store is out of reach (see answerUnavailableAs503). */
function unavailableAnswer(wantsPage: boolean): { type: string; body: string } {
  if (wantsPage) return { type: 'html', body: String(unavailablePage()) };
  return {
    type: 'json',
    body: JSON.stringify({
      error: 'temporarily_unavailable',
      error_description: 'The server cannot reach its database. Try again in a few seconds.',
    }),
  };
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

/** What SpareKey adds to every provider it builds (the first added is the outermost). */
function setUpProvider(provider: Provider, log: Logger): void {
  answerUnavailableAs503(provider, log);
  answerUnknownRoutes(provider);
  corsOnlyForRegisteredOrigins(provider);
  endSparekeySessionOnLogout(provider);
  confirmAnonymousLogout(provider);
  allowFormPostResponses(provider);
}

/**
 * What one client (address, or IPv6 /64) may ask of the provider per minute, per instance. A browser
 * makes two or three provider requests per sign-in and one per logout; an application's server one
 * token and one userinfo request per sign-in and one per refresh. 600 a minute is ten a second,
 * sustained: an office behind one address or a busy application stays far below it, a loop does not.
 * Logouts store a (short-lived) record each for anyone who asks: 60 a minute.
 */
export const OIDC_REQUESTS_PER_MINUTE = 600;
export const OIDC_LOGOUTS_PER_MINUTE = 60;

/** The provider's answers: its own, or (discovery, JWKS) the key set as the store holds it now. */
function isKeyDocument(path: string): boolean {
  return path === '/.well-known/openid-configuration' || path === OIDC_ROUTES.jwks;
}

export function oidcRoutes(
  deps: Deps,
  log: Logger = silentLogger,
  host = new ProviderHost(deps, (provider) => setUpProvider(provider, log)),
) {
  const app = new Hono<AppEnv>();
  const callbacks = new WeakMap<Provider, ReturnType<Provider['callback']>>();
  const requests = new RequestBudget(OIDC_REQUESTS_PER_MINUTE, 60_000);
  const logouts = new RequestBudget(OIDC_LOGOUTS_PER_MINUTE, 60_000);

  const limit = async (c: Context<AppEnv>, next: () => Promise<void>) => {
    const ip = c.get('meta').ip;
    if (ip) {
      const budget = c.req.path.startsWith(OIDC_ROUTES.end_session) ? logouts : requests;
      // A logout counts against both: it is a provider request too.
      const wait = Math.max(requests.take(ip), budget === logouts ? logouts.take(ip) : 0);
      if (wait > 0) throw tooManyRequests(wait);
    }
    await next();
  };

  const bridge = async (c: Context<AppEnv>) => {
    const node = nodeBindings(c);
    // The in-process app (tests' app.request) has no Node request to hand over.
    if (!node) return c.json({ error: { code: 'not_found', message: 'No such endpoint.' } }, 404);
    let provider: Provider;
    try {
      // Discovery and JWKS publish the key set: the one in the store now, or none while it is out of reach.
      provider = await host.get(isKeyDocument(c.req.path) ? 0 : undefined);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      log.error('store unavailable', {
        requestId: c.get('requestId'),
        path: c.req.path,
        error: error.message,
      });
      const answer = unavailableAnswer((c.req.header('accept') ?? '').includes('text/html'));
      c.header('Retry-After', String(STORE_RETRY_AFTER_S));
      c.header('Content-Type', answer.type === 'html' ? 'text/html; charset=UTF-8' : 'application/json');
      return c.body(answer.body, 503);
    }
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
    webContexts.set(incoming, {
      requestId: c.get('requestId'),
      endSparekeySession: () => endSparekeySession(c, deps),
    });
    let callback = callbacks.get(provider);
    if (!callback) {
      callback = provider.callback();
      callbacks.set(provider, callback);
    }
    await callback(incoming, outgoing);
    return RESPONSE_ALREADY_SENT;
  };
  for (const path of ['/.well-known/openid-configuration', '/oidc', '/oidc/*']) app.all(path, limit, bridge);

  /** The interaction the provider's cookie names, or null (expired, finished, or another browser's). */
  async function interaction(c: Context<AppEnv>, provider: Provider) {
    const node = nodeBindings(c);
    if (!node) return null;
    try {
      const details = await provider.interactionDetails(node.incoming, node.outgoing);
      return details.uid === c.req.param('uid') ? details : null;
    } catch (error) {
      // A store out of reach is not an expired sign-in: the error handler answers 503, try again.
      if (error instanceof StoreUnavailableError) throw error;
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
