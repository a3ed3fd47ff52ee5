/**
 * A real OpenID Connect relying party for the tests: a small web app on its own loopback port that
 * signs its users in through SpareKey with openid-client (discovery, PKCE S256, state and nonce,
 * code exchange, ID-token validation, userinfo) and shows who signed in and the claims it got.
 *
 * It is reached as http://localhost:PORT while SpareKey is http://127.0.0.1:PORT: two different
 * sites, so a browser treats the redirects between them as cross-site, as with a real application.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';

export interface RelyingPartyOptions {
  issuer: string;
  /** Title shown on its pages, to tell two apps apart. */
  name?: string;
  /** Leave PKCE out of the authorization request (to see a public client refused without it). */
  withoutPkce?: boolean;
  /** The port to listen on (default: a free one); the redirect URI is fixed by it. */
  port?: number;
}

export interface SignedIn {
  claims: Record<string, unknown>;
  userinfo: Record<string, unknown>;
  accessToken: string;
  refreshToken: string | undefined;
  idToken: string;
}

export interface RelyingParty {
  /** http://localhost:PORT */
  url: string;
  redirectUri: string;
  postLogoutRedirectUri: string;
  /** The last sign-in's result (the tests look at tokens the page does not show). */
  last: SignedIn | null;
  /** The error of the last failed callback, as the page showed it. */
  lastError: string | null;
  /** The PKCE verifier of the last sign-in started (tests exchange a code by hand with it). */
  lastVerifier: string | null;
  /**
   * The application SpareKey registered for this RP's redirect URI; a confidential client
   * authenticates with its secret (client_secret_basic), a public one with PKCE only.
   */
  setClient(clientId: string, clientSecret?: string): void;
  /**
   * A refresh with openid-client's refresh-token grant: the new tokens, or the provider's error code
   * (`invalid_grant` for a refresh token it no longer honours).
   */
  refresh(refreshToken: string): Promise<{ accessToken: string } | { error: string }>;
  close(): Promise<void>;
}

/** Enough style for its page to read well in the docs' screenshot. */
const STYLE =
  'body{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1f2328}' +
  'pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.75rem;font-size:13px}' +
  '#backup-code{background:#fff8c5;border-radius:6px;padding:.5rem .75rem}';

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

export async function startRelyingParty(options: RelyingPartyOptions): Promise<RelyingParty> {
  const name = options.name ?? 'Test app';
  /** Per browser: the pending request (verifier, state, nonce) and then the sign-in. */
  const browsers = new Map<string, { verifier: string; state: string; nonce: string } | SignedIn>();
  let config: oidc.Configuration | null = null;
  let client: { clientId: string; clientSecret?: string } | null = null;
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const base = `http://localhost:${port}`;
  const rp: RelyingParty = {
    url: base,
    redirectUri: `${base}/callback`,
    postLogoutRedirectUri: `${base}/logged-out`,
    last: null,
    lastError: null,
    lastVerifier: null,
    setClient(clientId, clientSecret) {
      client = { clientId, clientSecret };
      config = null;
    },
    async refresh(refreshToken) {
      try {
        const tokens = await oidc.refreshTokenGrant(await configuration(), refreshToken);
        return { accessToken: tokens.access_token };
      } catch (error) {
        return { error: (error as { error?: string }).error ?? String(error) };
      }
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  async function configuration(): Promise<oidc.Configuration> {
    if (!client) throw new Error('setClient() first');
    config ??= await oidc.discovery(
      new URL(options.issuer),
      client.clientId,
      undefined,
      client.clientSecret ? oidc.ClientSecretBasic(client.clientSecret) : oidc.None(),
      { execute: [oidc.allowInsecureRequests] },
    );
    return config;
  }

  function page(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers });
    res.end(
      `<!doctype html><html><head><title>${escapeHtml(name)}</title><style>${STYLE}</style></head><body><h1>${escapeHtml(name)}</h1>${body}</body></html>`,
    );
  }

  function browserId(req: IncomingMessage, res: ServerResponse): string {
    const match = (req.headers.cookie ?? '').match(/(?:^|;\s*)rp=([A-Za-z0-9_-]+)/);
    if (match?.[1]) return match[1];
    const id = randomBytes(16).toString('base64url');
    res.setHeader('set-cookie', `rp=${id}; Path=/; HttpOnly; SameSite=Lax`);
    return id;
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', base);
    const id = browserId(req, res);
    const state = browsers.get(id);
    if (url.pathname === '/') {
      if (state && 'claims' in state) {
        const claims = state.claims;
        const backup = claims.sparekey_backup_code as { remaining: number; total: number } | undefined;
        return page(
          res,
          200,
          `<p id="user">Signed in as <strong>${escapeHtml(String(claims.preferred_username))}</strong></p>
<p id="sub">${escapeHtml(String(claims.sub))}</p>
<p id="amr">amr: ${escapeHtml(((claims.amr as string[] | undefined) ?? []).join(' '))}</p>
<p id="acr">acr: ${escapeHtml(String(claims.acr))}</p>
${backup ? `<p id="backup-code">A backup code was used: ${backup.remaining} of ${backup.total} left</p>` : ''}
<pre id="claims">${escapeHtml(JSON.stringify(claims, null, 2))}</pre>
<pre id="userinfo">${escapeHtml(JSON.stringify(state.userinfo, null, 2))}</pre>
<p><a id="logout" href="/logout">Sign out</a></p>`,
        );
      }
      return page(
        res,
        200,
        '<p id="anonymous">Not signed in.</p><p><a id="login" href="/login">Sign in with SpareKey</a></p>',
      );
    }
    if (url.pathname === '/login') {
      const cfg = await configuration();
      const verifier = oidc.randomPKCECodeVerifier();
      const pending = { verifier, state: oidc.randomState(), nonce: oidc.randomNonce() };
      browsers.set(id, pending);
      rp.lastVerifier = verifier;
      const parameters: Record<string, string> = {
        redirect_uri: rp.redirectUri,
        scope: 'openid profile',
        state: pending.state,
        nonce: pending.nonce,
      };
      // What an application may add to its request, taken from its own /login link
      // (/login?prompt=login, ?max_age=60, ?scope=openid offline_access&prompt=consent).
      for (const name of ['prompt', 'max_age', 'scope']) {
        const value = url.searchParams.get(name);
        if (value !== null) parameters[name] = value;
      }
      if (!options.withoutPkce) {
        parameters.code_challenge = await oidc.calculatePKCECodeChallenge(verifier);
        parameters.code_challenge_method = 'S256';
      }
      res.writeHead(303, { location: oidc.buildAuthorizationUrl(cfg, parameters).href });
      return res.end();
    }
    if (url.pathname === '/callback') {
      if (!state || 'claims' in state)
        return page(res, 400, '<p id="error">No sign-in was started here.</p>');
      try {
        const cfg = await configuration();
        const tokens = await oidc.authorizationCodeGrant(cfg, url, {
          pkceCodeVerifier: options.withoutPkce ? undefined : state.verifier,
          expectedState: state.state,
          expectedNonce: state.nonce,
          idTokenExpected: true,
        });
        const claims = tokens.claims() as Record<string, unknown> | undefined;
        if (!claims || !tokens.id_token) throw new Error('no ID token');
        const userinfo = await oidc.fetchUserInfo(cfg, tokens.access_token, String(claims.sub));
        const signedIn: SignedIn = {
          claims,
          userinfo: userinfo as Record<string, unknown>,
          accessToken: tokens.access_token,
          refreshToken: tokens.refresh_token,
          idToken: tokens.id_token,
        };
        browsers.set(id, signedIn);
        rp.last = signedIn;
        res.writeHead(303, { location: '/' });
        return res.end();
      } catch (error) {
        const detail = error as { error?: string; error_description?: string };
        rp.lastError =
          error instanceof Error
            ? `${error.name}: ${error.message} ${detail.error ?? ''} ${detail.error_description ?? ''}`.trim()
            : String(error);
        browsers.delete(id);
        return page(res, 400, `<p id="error">${escapeHtml(rp.lastError)}</p>`);
      }
    }
    if (url.pathname === '/logout') {
      const cfg = await configuration();
      const idToken = state && 'claims' in state ? state.idToken : undefined;
      browsers.delete(id);
      const end = oidc.buildEndSessionUrl(cfg, {
        post_logout_redirect_uri: rp.postLogoutRedirectUri,
        ...(idToken ? { id_token_hint: idToken } : {}),
      });
      res.writeHead(303, { location: end.href });
      return res.end();
    }
    if (url.pathname === '/logged-out') return page(res, 200, '<p id="logged-out">You have signed out.</p>');
    return page(res, 404, '<p>Not found</p>');
  }

  server.on('request', (req, res) => {
    handle(req, res).catch((error: unknown) => {
      rp.lastError = String(error);
      if (!res.headersSent) page(res, 500, `<p id="error">${escapeHtml(String(error))}</p>`);
    });
  });
  return rp;
}
