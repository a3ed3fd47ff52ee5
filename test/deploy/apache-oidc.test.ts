/**
 * deploy/apache-oidc.conf, run by Debian's Apache 2.4 with mod_auth_openidc as a real relying party
 * of the real server: Apache (on its own prefix and loopback port, reached as http://localhost:PORT,
 * another site than SpareKey's 127.0.0.1) protects an application at /app/ and passes it the user in
 * X-Remote-User. A user signs in with password + authenticator, or with a backup code that then works
 * no more; a wrong password or code never reaches the application; mod_auth_openidc's logout URL ends
 * the SpareKey session too (RP-initiated logout, after SpareKey's "Sign out" confirmation).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpBrowser } from '../support/http-browser';
import {
  type Alice,
  adminToken,
  confirmSignOut,
  freshTotp,
  PASSWORD,
  registerApp,
  setUpAlice,
  startAtApp,
} from '../support/oidc-users';
import { rawRequest } from '../support/raw-request';
import { call, freePort, type RunningServer, startServer } from '../support/server';

const ROOT = resolve(import.meta.dirname, '../..');
const APACHE = '/usr/sbin/apache2';
const MODULES = '/usr/lib/apache2/modules';
const APACHE_MISSING =
  'Apache or mod_auth_openidc is missing: install the Debian packages "apache2" and ' +
  '"libapache2-mod-auth-openidc" (apt-get install -y apache2 libapache2-mod-auth-openidc; .ci/run does it)';
const FAST_ARGON2 = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };
const MODULES_LOADED = [
  'mpm_event',
  'authn_core',
  'authz_core',
  'authz_user',
  'headers',
  'dir',
  'proxy',
  'proxy_http',
  'auth_openidc',
];

interface Placeholders {
  sparekey: string;
  app: string;
  backend: string;
  clientId: string;
  clientSecret: string;
  passphrase: string;
}

/** deploy/apache-oidc.conf with this run's addresses and secrets; each placeholder must be there. */
function siteConfig(text: string, values: Placeholders): string {
  const replacements: [string, string][] = [
    ['https://sparekey.example', values.sparekey],
    ['https://app.example', values.app],
    ['http://127.0.0.1:3000', values.backend],
    ['"CLIENT_ID"', `"${values.clientId}"`],
    ['"CLIENT_SECRET"', `"${values.clientSecret}"`],
    ['"CRYPTO_PASSPHRASE"', `"${values.passphrase}"`],
  ];
  let site = text;
  for (const [from, to] of replacements) {
    // Directives only: the comments may name the example addresses too.
    const lines = site.split('\n').filter((line) => !line.trimStart().startsWith('#') && line.includes(from));
    expect(lines.length, `deploy/apache-oidc.conf uses "${from}" in a directive`).toBeGreaterThan(0);
    site = site
      .split('\n')
      .map((line) => (line.trimStart().startsWith('#') ? line : line.replaceAll(from, to)))
      .join('\n');
  }
  return site;
}

/** A main configuration for a run of its own: everything Apache writes stays in `prefix`. */
function mainConfig(prefix: string, port: number): string {
  const asRoot = process.getuid?.() === 0;
  return `ServerRoot ${prefix}
DefaultRuntimeDir ${prefix}
PidFile ${prefix}/apache2.pid
ErrorLog ${prefix}/error.log
LogLevel warn auth_openidc:info
Listen 127.0.0.1:${port}
ServerName localhost
${MODULES_LOADED.map((name) => `LoadModule ${name}_module ${MODULES}/mod_${name}.so`).join('\n')}
${asRoot ? 'User nobody\nGroup nogroup\n' : ''}StartServers 1
DocumentRoot ${prefix}/htdocs
DirectoryIndex index.html
Include ${prefix}/apache-oidc.conf
`;
}

/** The protected application: shows what Apache told it about the user, and keeps every request. */
async function startBackend(): Promise<{ url: string; seen: IncomingHttpHeaders[]; server: Server }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(
      `<p id="user">Signed in as ${String(req.headers['x-remote-user'])}</p>` +
        `<p id="amr">amr: ${String(req.headers['x-sign-in-methods'])}</p>`,
    );
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

describe('docs/OIDC.md', () => {
  it('shows deploy/apache-oidc.conf as it is (one source for the example and the test)', async () => {
    const docs = await readFile(join(ROOT, 'docs/OIDC.md'), 'utf8');
    const block = docs.match(/```apache\n([\s\S]*?)```/)?.[1];
    expect(block).toBe(await readFile(join(ROOT, 'deploy/apache-oidc.conf'), 'utf8'));
  });
});

describe('deploy/apache-oidc.conf: Apache with mod_auth_openidc signs users in through SpareKey', () => {
  let prefix: string;
  let apache: ChildProcess | undefined;
  let apacheLog = '';
  let server: RunningServer;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let admin: string;
  let app: string;
  let alice: Alice;

  beforeAll(async () => {
    if (spawnSync(APACHE, ['-v']).error) throw new Error(APACHE_MISSING);
    await access(join(MODULES, 'mod_auth_openidc.so')).catch(() => {
      throw new Error(APACHE_MISSING);
    });

    prefix = await mkdtemp(join(tmpdir(), 'sparekey-apache-'));
    // Apache's children (nobody, when the tests run as root) read the pages.
    await chmod(prefix, 0o755);
    await mkdir(join(prefix, 'htdocs'));
    await writeFile(join(prefix, 'htdocs/index.html'), '<p id="public">Signed out of the app.</p>\n');

    const port = await freePort();
    app = `http://localhost:${port}`;
    server = await startServer({ env: FAST_ARGON2 });
    backend = await startBackend();
    admin = await adminToken(server);
    alice = await setUpAlice(server, admin);
    const client = { clientId: '', clientSecret: '' };
    await registerApp(
      server,
      admin,
      {
        redirectUri: `${app}/app/redirect_uri`,
        postLogoutRedirectUri: `${app}/`,
        setClient(clientId, clientSecret) {
          Object.assign(client, { clientId, clientSecret });
        },
      },
      'confidential',
      'Apache app',
    );

    const site = siteConfig(await readFile(join(ROOT, 'deploy/apache-oidc.conf'), 'utf8'), {
      sparekey: server.url,
      app,
      backend: backend.url,
      ...client,
      passphrase: randomBytes(32).toString('base64url'),
    });
    // It holds the client secret and the cookie passphrase: created afresh, for Apache's parent only.
    await writeFile(join(prefix, 'apache-oidc.conf'), site, { flag: 'wx', mode: 0o600 });
    await writeFile(join(prefix, 'apache2.conf'), mainConfig(prefix, port));

    const configFile = join(prefix, 'apache2.conf');
    const check = spawnSync(APACHE, ['-t', '-f', configFile], { encoding: 'utf8' });
    expect(check.stderr + check.stdout, 'apache2 -t').toContain('Syntax OK');

    apache = spawn(APACHE, ['-DFOREGROUND', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    apache.stderr?.on('data', (chunk: Buffer) => {
      apacheLog += chunk.toString();
    });
    const deadline = Date.now() + 15_000;
    while ((await fetch(`${app}/`).catch(() => null))?.status !== 200) {
      if (Date.now() > deadline || apache.exitCode !== null)
        throw new Error(`Apache did not serve:\n${apacheLog}${await errorLog()}`);
      await new Promise((wait) => setTimeout(wait, 100));
    }
  });

  afterAll(async () => {
    if (apache && apache.exitCode === null) {
      const exited = new Promise((done) => apache?.once('exit', done));
      apache.kill('SIGTERM');
      await exited;
    }
    await new Promise((done) => (backend ? backend.server.close(done) : done(undefined)));
    await server?.stop();
    if (prefix) await rm(prefix, { recursive: true, force: true });
  });

  const errorLog = () => readFile(join(prefix, 'error.log'), 'utf8').catch(() => '');
  /** Apache's error log, for a failed assertion's message. */
  const why = async () => `Apache's error log:\n${await errorLog()}`;

  it('password + authenticator: the application behind Apache gets the SpareKey username', async () => {
    const browser = new HttpBrowser();
    const login = await startAtApp(browser, { url: app }, '/app/');
    expect(new URL(login.url).origin).toBe(server.url);
    const mfa = await browser.submit(login, { username: 'alice', password: PASSWORD });
    expect(new URL(mfa.url).pathname).toBe('/login/mfa');
    const page = await browser.submit(mfa, { totp: await freshTotp(alice) });
    expect(page.url, await why()).toBe(`${app}/app/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<p id="user">Signed in as alice</p>');
    expect(page.body).toContain('<p id="amr">amr: pwd,otp,mfa</p>');
    // Only what the configuration passes on: no claim or token of mod_auth_openidc's own headers.
    const seen = backend.seen.at(-1) ?? {};
    expect(Object.keys(seen).filter((name) => name.startsWith('oidc_'))).toEqual([]);
    // The code came back to mod_auth_openidc's redirect URI, which exchanged it itself.
    expect(browser.hops.some((hop) => hop.url.startsWith(`${app}/app/redirect_uri?code=`))).toBe(true);

    // Apache's own session now: the next page needs no trip to SpareKey.
    const again = await browser.navigate(`${app}/app/`);
    expect(browser.hops).toHaveLength(1);
    expect(again.body).toContain('Signed in as alice');
    // Whatever X-Remote-User the browser sends, the application gets the one Apache sets.
    const forged = await rawRequest(`${app}/app/`, {
      headers: { cookie: browser.cookieHeader(new URL(`${app}/app/`)), 'x-remote-user': 'admin' },
    });
    expect(forged.text).toContain('<p id="user">Signed in as alice</p>');

    const signIns = await call(server.url, 'GET', '/api/admin/audit?type=application_sign_in', {
      token: admin,
    });
    expect(signIns.body.events[0].details).toMatchObject({ name: 'Apache app', method: 'totp' });
  });

  it('a lost authenticator: a backup code signs in once; the same code is refused the second time', async () => {
    const bob = await setUpAlice(server, admin, 'bob');
    const code = bob.codes[0] as string;
    const first = new HttpBrowser();
    const login = await startAtApp(first, { url: app }, '/app/');
    await first.submit(login, { username: 'bob', password: PASSWORD });
    const backupForm = await first.navigate(`${server.url}/login/mfa?method=backup_code`);
    const page = await first.submit(backupForm, { backup_code: code });
    expect(page.url, await why()).toBe(`${app}/app/`);
    expect(page.body).toContain('<p id="user">Signed in as bob</p>');

    // Another browser, a new session at Apache and at SpareKey: the spent code does not open it.
    const requestsBefore = backend.seen.length;
    const second = new HttpBrowser();
    const again = await startAtApp(second, { url: app }, '/app/');
    await second.submit(again, { username: 'bob', password: PASSWORD });
    const secondForm = await second.navigate(`${server.url}/login/mfa?method=backup_code`);
    const refused = await second.submit(secondForm, { backup_code: code });
    expect(refused.status).toBe(409);
    expect(refused.body).toContain('This backup code has already been used');
    expect(new URL(refused.url).origin).toBe(server.url);
    expect(backend.seen.length).toBe(requestsBefore);
    // The browser has no Apache session either: the application still sends it to SpareKey.
    const still = await second.navigate(`${app}/app/`);
    expect(new URL(still.url).origin).toBe(server.url);

    const users = await call(server.url, 'GET', '/api/admin/users', { token: admin });
    const stored = users.body.users.find((user: { username: string }) => user.username === 'bob');
    expect(stored.backupCodes).toMatchObject({ total: 4, remaining: 3 });
  });

  it('a wrong password, a wrong code or a forged X-Remote-User never reaches the application', async () => {
    const requestsBefore = backend.seen.length;
    const browser = new HttpBrowser();
    const login = await startAtApp(browser, { url: app }, '/app/');
    const wrongPassword = await browser.submit(login, { username: 'alice', password: 'not-her-password' });
    expect(wrongPassword.status).toBe(401);
    expect(wrongPassword.body).toContain('Invalid username or password.');

    const mfa = await browser.submit(wrongPassword, { username: 'alice', password: PASSWORD });
    const wrongCode = await browser.submit(mfa, { totp: '000000' });
    expect(wrongCode.status).toBe(401);
    expect(wrongCode.body).toContain('That code is not valid.');
    expect(browser.cookies.some((cookie) => cookie.name.startsWith('mod_auth_openidc_session'))).toBe(false);

    // A client naming itself in the header Apache sets gets no further than anyone without a session:
    // a navigation is sent to SpareKey, a script's request (fetch says Sec-Fetch-Mode: cors) gets 401.
    const forgedNavigation = await rawRequest(`${app}/app/`, {
      headers: { 'x-remote-user': 'admin', accept: 'text/html', 'sec-fetch-mode': 'navigate' },
    });
    expect(forgedNavigation.status).toBe(302);
    expect(new URL(forgedNavigation.headers.get('location') ?? '').origin).toBe(server.url);
    const forgedFetch = await fetch(`${app}/app/`, {
      headers: { 'x-remote-user': 'admin' },
      redirect: 'manual',
    });
    expect(forgedFetch.status).toBe(401);
    // A made-up code at the redirect URI: mod_auth_openidc refuses it (no state of its own matches).
    const madeUp = await browser.navigate(`${app}/app/redirect_uri?code=made-up&state=made-up`);
    expect(madeUp.status).toBe(400);
    expect(backend.seen.length).toBe(requestsBefore);
  });

  it('logout through mod_auth_openidc ends the SpareKey session too (after its Sign out confirmation)', async () => {
    const carol = await setUpAlice(server, admin, 'carol');
    const browser = new HttpBrowser();
    const login = await startAtApp(browser, { url: app }, '/app/');
    const mfa = await browser.submit(login, { username: 'carol', password: PASSWORD });
    expect((await browser.submit(mfa, { totp: await freshTotp(carol) })).body).toContain(
      'Signed in as carol',
    );
    const session = browser.cookies.find((cookie) => cookie.name === 'sparekey_session')?.value;
    expect(session).toBeTruthy();

    // mod_auth_openidc's logout URL: its own session ends, and it sends the browser to SpareKey's
    // end-session endpoint (GET, with the ID token as hint), which asks before signing out.
    const ask = await browser.navigate(`${app}/app/redirect_uri?logout=${encodeURIComponent(`${app}/`)}`);
    expect(new URL(ask.url).origin + new URL(ask.url).pathname, await why()).toBe(
      `${server.url}/oidc/session/end`,
    );
    expect(new URL(ask.url).searchParams.get('id_token_hint')).toBeTruthy();
    const done = await confirmSignOut(browser, ask);
    expect(done.url).toBe(`${app}/`);
    expect(done.body).toContain('Signed out of the app.');

    // Signed out of SpareKey: the cookie is gone, the server no longer knows the session ...
    expect(browser.cookies.some((cookie) => cookie.name === 'sparekey_session')).toBe(false);
    const replay = await fetch(`${server.url}/account`, {
      headers: { cookie: `sparekey_session=${session}` },
      redirect: 'manual',
    });
    expect(replay.status).toBe(303);
    expect(replay.headers.get('location')).toBe('/login');
    const logouts = await call(server.url, 'GET', `/api/admin/audit?type=logout&userId=${carol.id}`, {
      token: admin,
    });
    expect(logouts.body.events).toHaveLength(1);
    // ... and out of Apache: the application asks SpareKey again, which asks for the password.
    await startAtApp(browser, { url: app }, '/app/');
  });
});
