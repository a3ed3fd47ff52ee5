/**
 * Transport: the real server with TLS_CERT_FILE / TLS_KEY_FILE (a self-signed certificate made here
 * with the openssl CLI) answers over HTTPS only, sends HSTS and marks its cookies Secure; without TLS
 * it refuses to listen off the loopback. The HTTPS run is a full web sign-in, whose logs are then
 * checked: one JSON line per request, and not one password, code, token or cookie in them.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentTotp } from '../../server/crypto/totp';
import { makeCertificate } from '../support/certificate';
import { rawRequest } from '../support/raw-request';
import { type RunningServer, runServerToExit, startServer } from '../support/server';

/** A request over HTTPS that trusts only our self-signed certificate. */
function https(ca: string, url: string, options: Omit<Parameters<typeof rawRequest>[1], 'ca'> = {}) {
  return rawRequest(url, { ...options, ca });
}

describe('HTTPS with TLS_CERT_FILE and TLS_KEY_FILE', () => {
  let dir: string;
  let ca: string;
  let server: RunningServer;
  /** Everything secret this run handled, to look for in the logs. */
  const secrets = new Set<string>();
  /** The X-Request-Id of every response, to find in the logs. */
  const requestIds: string[] = [];

  const send = async (path: string, options: Parameters<typeof https>[2] = {}) => {
    const reply = await https(ca, new URL(path, server.url).toString(), options);
    requestIds.push(reply.headers.get('x-request-id') ?? '');
    return reply;
  };
  const api = (method: string, path: string, body?: unknown, token?: string) =>
    send(path, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sparekey-tls-'));
    const { cert, key } = makeCertificate(dir);
    ca = await readFile(cert, 'utf8');
    // A storage key set: a generated one is announced on the terminal in words, not as a log line.
    const storageKey = randomBytes(32).toString('base64');
    server = await startServer({
      env: { TLS_CERT_FILE: cert, TLS_KEY_FILE: key, STORAGE_ENCRYPTION_KEY: storageKey },
    });
    secrets.add(server.adminPassword);
    secrets.add(storageKey);
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('listens on https:// and sends HSTS; plain HTTP on that port gets no answer', async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await send('/healthz');
    expect(health.status).toBe(200);
    expect(health.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
    const page = await send('/login');
    expect(page.status).toBe(200);
    expect(page.headers.get('strict-transport-security')).toMatch(/^max-age=\d{7,}/);

    const plain = server.url.replace('https://', 'http://');
    await expect(fetch(`${plain}/healthz`)).rejects.toThrow();
  });

  it('signs in on the web pages with Secure, host-only, HttpOnly, SameSite=Strict cookies', async () => {
    const admin = (
      await api('POST', '/api/auth/login', { username: 'admin', password: server.adminPassword })
    ).json.token as string;
    secrets.add(admin);
    await api(
      'PUT',
      '/api/admin/policy',
      { mfaUsage: 'optional_per_user', backupCodes: { enabled: true, count: 3, warnWhenRemaining: 1 } },
      admin,
    );
    const password = 'alice-over-tls-password';
    secrets.add(password);
    const created = await api('POST', '/api/admin/users', { username: 'alice', password }, admin);
    const configured = await api(
      'PATCH',
      `/api/admin/users/${created.json.user.id}`,
      { mfa: { type: 'totp' } },
      admin,
    );
    const secret = configured.json.totp.secret as string;
    secrets.add(secret);
    const login = await api('POST', '/api/auth/login', { username: 'alice', password });
    secrets.add(login.json.mfaToken);
    const totp = currentTotp(secret, Date.now());
    const session = await api('POST', '/api/auth/mfa', {
      mfaToken: login.json.mfaToken,
      method: 'totp',
      code: totp,
    });
    expect(session.status).toBe(200);
    secrets.add(session.json.token);
    const generated = await api('POST', '/api/me/backup-codes', { password }, session.json.token);
    const codes = (generated.json.codes as { code: string }[]).map((c) => c.code);
    for (const code of codes) {
      secrets.add(code);
      secrets.add(code.replace('-', ''));
    }

    // The browser part: cookies by name, the form token in each post, our own Origin.
    const jar = new Map<string, string>();
    const cookieLines: string[] = [];
    const browse = async (method: string, path: string, form?: Record<string, string>) => {
      const headers: Record<string, string> = {};
      if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      let body: string | undefined;
      if (form) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        headers.origin = server.url;
        body = new URLSearchParams({ csrf: jar.get('__Host-sparekey_csrf') ?? '', ...form }).toString();
      }
      const reply = await send(path, { method, headers, body });
      for (const line of reply.headers.getSetCookie()) {
        cookieLines.push(line);
        const [name = '', value = ''] = (line.split(';')[0] ?? '').split('=');
        if (value) {
          jar.set(name, value);
          secrets.add(value);
        } else jar.delete(name);
      }
      return reply;
    };

    expect((await browse('GET', '/login')).status).toBe(200);
    const afterPassword = await browse('POST', '/login', { username: 'alice', password });
    expect(afterPassword.status).toBe(303);
    expect(afterPassword.headers.get('location')).toBe('/login/mfa');
    const wrong = await browse('POST', '/login/mfa', { backup_code: 'ZZZZZ-ZZZZZ' });
    expect(wrong.status).toBe(401);
    const spent = await browse('POST', '/login/mfa', { backup_code: codes[0] as string });
    expect(spent.status).toBe(303);
    expect(spent.headers.get('location')).toBe('/account');
    const account = await browse('GET', '/account');
    expect(account.status).toBe(200);
    expect(account.text).toContain('2 of 3');
    expect((await browse('POST', '/logout', {})).status).toBe(303);
    expect((await browse('GET', '/account')).headers.get('location')).toBe('/login');

    const byName = (name: string) => cookieLines.filter((line) => line.startsWith(`${name}=`));
    expect(byName('__Host-sparekey_session').length).toBeGreaterThan(0);
    expect(byName('__Host-sparekey_csrf').length).toBeGreaterThan(0);
    expect(byName('__Host-sparekey_mfa').length).toBeGreaterThan(0);
    // Over TLS no cookie goes out without the __Host- prefix (which browsers only accept with Secure, Path=/).
    expect(cookieLines.filter((line) => !line.startsWith('__Host-'))).toEqual([]);
    for (const line of cookieLines) {
      const attributes = line.split(';').map((a) => a.trim().toLowerCase());
      expect(attributes, line).toContain('secure');
      expect(attributes, line).toContain('httponly');
      expect(attributes, line).toContain('samesite=strict');
      expect(
        attributes.some((a) => a.startsWith('domain=')),
        line,
      ).toBe(false);
    }
  });

  it('logs one JSON line per request and never a password, code, token or cookie', async () => {
    expect(await server.stop()).toBe(0);
    const lines = server
      .output()
      .split('\n')
      .filter((line) => line.trim() !== '');
    const entries = lines.map((line) => {
      expect(() => JSON.parse(line), `not a JSON line: ${line.slice(0, 80)}`).not.toThrow();
      return JSON.parse(line) as Record<string, unknown>;
    });
    const requests = entries.filter((entry) => entry.msg === 'request');
    expect(requests).toHaveLength(requestIds.length);
    for (const entry of requests) {
      expect(entry).toMatchObject({
        level: 'info',
        requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        method: expect.stringMatching(/^(GET|POST|PUT|PATCH|DELETE)$/),
        path: expect.stringMatching(/^\//),
        status: expect.any(Number),
        ms: expect.any(Number),
      });
      expect(Date.parse(String(entry.time))).not.toBeNaN();
    }
    expect(requests.map((entry) => entry.requestId).sort()).toEqual([...requestIds].sort());
    // The path is logged without its query string, where a careless client might put a secret.
    expect(requests.some((entry) => String(entry.path).includes('?'))).toBe(false);

    const logs = server.output();
    expect(secrets.size).toBeGreaterThan(10);
    for (const secret of secrets) expect(logs.includes(secret), 'a secret reached the logs').toBe(false);
  });
});

describe('plain HTTP off the loopback', () => {
  it('refuses to start on a non-loopback HOST without TLS, says why, and touches nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sparekey-insecure-'));
    try {
      for (const host of ['0.0.0.0', '::', '192.0.2.10']) {
        const dataDir = join(dir, `data-${host.replaceAll(/[.:]/g, '_')}`);
        const { code, output } = await runServerToExit({ HOST: host, DATA_DIR: dataDir });
        expect(code, output).toBe(1);
        expect(output).toContain(`Refusing to listen on ${host} without TLS`);
        expect(output).toContain('TLS_CERT_FILE');
        expect(output).toContain('ALLOW_INSECURE_HTTP=1');
        expect(output).not.toContain('"msg":"listening"');
        expect(existsSync(dataDir), 'no data directory is created').toBe(false);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
