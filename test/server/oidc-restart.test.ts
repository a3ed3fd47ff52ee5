/**
 * The provider across restarts of the real server on one data directory and one port: keys,
 * sessions and tokens persist, and `npm run keys:rotate` brings in a new signing key while the
 * previous one stays published.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HttpBrowser } from '../support/http-browser';
import { startRelyingParty } from '../support/relying-party';
import { call, freePort, type RunningServer, startServer } from '../support/server';

const ROOT = resolve(import.meta.dirname, '../..');

const kids = async (server: RunningServer) =>
  ((await (await fetch(`${server.url}/oidc/jwks`)).json()).keys as { kid: string }[]).map((k) => k.kid);

const idTokenKid = (idToken: string) =>
  JSON.parse(Buffer.from(idToken.split('.')[0] as string, 'base64url').toString()).kid as string;

describe('the provider across restarts', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('keeps keys, sessions and tokens; keys:rotate adds a key and keeps the old one published', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-oidc-restart-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const env = { PORT: String(await freePort()) };
    let server = await startServer({ dataDir, env });
    const rp = await startRelyingParty({ issuer: server.url });
    cleanup.push(() => rp.close());

    const admin = (
      await call(server.url, 'POST', '/api/auth/login', {
        body: { username: 'admin', password: server.adminPassword },
      })
    ).body.token as string;
    const created = await call(server.url, 'POST', '/api/admin/applications', {
      token: admin,
      body: { name: 'Restarted', type: 'public', redirectUris: [rp.redirectUri] },
    });
    expect(created.status).toBe(201);
    expect(created.body).not.toHaveProperty('clientSecret');
    rp.setClient(created.body.application.clientId);

    // The admin (no MFA under the default policy) signs in at the app with a password.
    const browser = new HttpBrowser();
    const login = await browser.navigate(`${rp.url}/login`);
    const back = await browser.submit(login, { username: 'admin', password: server.adminPassword });
    expect(back.body).toContain('Signed in as <strong>admin</strong>');
    expect(rp.last?.claims.amr).toEqual(['pwd']);
    const firstToken = rp.last?.accessToken as string;
    const firstKids = await kids(server);
    expect(idTokenKid(rp.last?.idToken as string)).toBe(firstKids[0]);

    await server.stop({ keepData: true });
    server = await startServer({ dataDir, env });
    expect(await kids(server)).toEqual(firstKids);
    const userinfo = await fetch(`${server.url}/oidc/me`, {
      headers: { authorization: `Bearer ${firstToken}` },
    });
    expect(userinfo.status).toBe(200);
    // The SpareKey session survived: signing in again asks nothing.
    const again = await browser.navigate(`${rp.url}/login`);
    expect(again.url).toBe(`${rp.url}/`);
    expect(browser.hops.some((hop) => hop.url.startsWith(`${server.url}/login`))).toBe(false);

    // Rotation runs on the stopped server's data directory.
    await server.stop({ keepData: true });
    const rotate = spawnSync('npm', ['run', '--silent', 'keys:rotate'], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    expect(rotate.status, rotate.stderr).toBe(0);
    server = await startServer({ dataDir, env });
    cleanup.push(() => server.stop());
    const rotatedKids = await kids(server);
    expect(rotatedKids).toHaveLength(2);
    expect(rotatedKids[1]).toBe(firstKids[0]);
    await browser.navigate(`${rp.url}/login`);
    expect(idTokenKid(rp.last?.idToken as string)).toBe(rotatedKids[0]);
  });
});
