/**
 * deploy/nginx.conf, run by Debian's nginx in front of the real server: TLS with a throwaway
 * certificate, the server on the loopback with PUBLIC_URL https and TRUST_PROXY=1. A web sign-in
 * through nginx gets `__Host-` cookies marked Secure, the audit log records the client's own address
 * (not nginx's), and a request body sent slowly reaches the server only once it is whole.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificate } from '../support/certificate';
import { rawRequest } from '../support/raw-request';
import { freePort, type RunningServer, startServer } from '../support/server';

const ROOT = resolve(import.meta.dirname, '../..');
const NGINX_MISSING =
  'nginx is missing: install the Debian package "nginx" (apt-get install -y nginx; .ci/run does it)';
/** The client's address: nginx and the server talk over 127.0.0.1, the client comes from elsewhere. */
const CLIENT = '127.0.0.2';
const FAST_ARGON2 = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };

/** deploy/nginx.conf with this run's ports and certificate; each placeholder must be there once. */
function siteConfig(text: string, nginxPort: number, serverPort: number, cert: string, key: string): string {
  const replacements: [string, string][] = [
    ['listen 443 ssl;', `listen 127.0.0.1:${nginxPort} ssl;`],
    ['server 127.0.0.1:8787 ', `server 127.0.0.1:${serverPort} `],
    ['/etc/ssl/sparekey/fullchain.pem', cert],
    ['/etc/ssl/sparekey/privkey.pem', key],
  ];
  let site = text;
  for (const [from, to] of replacements) {
    expect(site.split(from), `deploy/nginx.conf says "${from}" once`).toHaveLength(2);
    site = site.replace(from, to);
  }
  return site;
}

/** A main configuration for an unprivileged run: everything nginx writes stays in `prefix`. */
function mainConfig(prefix: string): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `  ${kind}_temp_path ${prefix}/temp/${kind};`)
    .join('\n');
  return `daemon off;
error_log ${prefix}/error.log info;
pid ${prefix}/nginx.pid;
events { worker_connections 64; }
http {
  access_log ${prefix}/access.log;
${temp}
  include ${prefix}/sparekey.conf;
}
`;
}

describe('deploy/nginx.conf in front of the real server', () => {
  let prefix: string;
  let nginx: ChildProcess | undefined;
  let nginxLog = '';
  let server: RunningServer;
  let ca: string;
  let publicUrl: string;

  const send = (path: string, options: Parameters<typeof rawRequest>[1] = {}) =>
    rawRequest(new URL(path, publicUrl).href, { ...options, ca, localAddress: CLIENT });

  beforeAll(async () => {
    prefix = await mkdtemp(join(tmpdir(), 'sparekey-nginx-'));
    // nginx's workers (nobody, when the tests run as root) use the temp folders.
    await chmod(prefix, 0o755);
    await mkdir(join(prefix, 'temp'));
    const { cert, key } = makeCertificate(prefix);
    ca = await readFile(cert, 'utf8');
    const [nginxPort, serverPort] = [await freePort(), await freePort()];
    publicUrl = `https://127.0.0.1:${nginxPort}`;
    const site = siteConfig(
      await readFile(join(ROOT, 'deploy/nginx.conf'), 'utf8'),
      nginxPort,
      serverPort,
      cert,
      key,
    );
    await writeFile(join(prefix, 'sparekey.conf'), site);
    await writeFile(join(prefix, 'nginx.conf'), mainConfig(prefix));

    const check = spawnSync(
      'nginx',
      ['-t', '-p', prefix, '-e', join(prefix, 'error.log'), '-c', join(prefix, 'nginx.conf')],
      {
        encoding: 'utf8',
      },
    );
    if ((check.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new Error(NGINX_MISSING);
    expect(check.stderr).toContain('test is successful');

    server = await startServer({
      env: { PORT: String(serverPort), PUBLIC_URL: publicUrl, TRUST_PROXY: '1', ...FAST_ARGON2 },
    });
    nginx = spawn(
      'nginx',
      ['-p', prefix, '-e', join(prefix, 'error.log'), '-c', join(prefix, 'nginx.conf')],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    nginx.stderr?.on('data', (chunk: Buffer) => {
      nginxLog += chunk.toString();
    });
    const deadline = Date.now() + 15_000;
    while ((await send('/healthz/ready').catch(() => null))?.status !== 200) {
      if (Date.now() > deadline || nginx.exitCode !== null)
        throw new Error(`nginx did not serve:\n${nginxLog}`);
      await new Promise((wait) => setTimeout(wait, 100));
    }
  });

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((done) => nginx?.once('exit', done));
      nginx.kill('SIGQUIT');
      await exited;
    }
    await server?.stop();
    if (prefix) await rm(prefix, { recursive: true, force: true });
  });

  it('a web sign-in through nginx gets Secure __Host- cookies; the audit log has the client’s address', async () => {
    const cookies = new Map<string, string>();
    const setCookies: string[] = [];
    const browse = async (method: string, path: string, form?: Record<string, string>) => {
      const headers: Record<string, string> = { accept: 'text/html' };
      if (cookies.size) headers.cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
      let body: string | undefined;
      if (form) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        headers.origin = publicUrl;
        body = new URLSearchParams({ csrf: cookies.get('__Host-sparekey_csrf') ?? '', ...form }).toString();
      }
      const reply = await send(path, { method, headers, body });
      for (const line of reply.headers.getSetCookie()) {
        setCookies.push(line);
        const [name = '', value = ''] = (line.split(';')[0] ?? '').split('=');
        if (value) cookies.set(name, value);
        else cookies.delete(name);
      }
      return reply;
    };

    expect((await browse('GET', '/login')).status).toBe(200);
    expect((await browse('POST', '/login', { username: 'admin', password: 'not-the-password' })).status).toBe(
      401,
    );
    const signedIn = await browse('POST', '/login', { username: 'admin', password: server.adminPassword });
    expect(signedIn.status).toBe(303);
    const account = await browse('GET', signedIn.headers.get('location') ?? '/account');
    expect(account.status).toBe(200);

    expect(setCookies.some((line) => line.startsWith('__Host-sparekey_session='))).toBe(true);
    for (const line of setCookies) {
      expect(line, line).toMatch(/^__Host-/);
      expect(
        line.split(';').map((part) => part.trim().toLowerCase()),
        line,
      ).toContain('secure');
    }

    const token = (
      await send('/api/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: server.adminPassword }),
      })
    ).json.token as string;
    const audit = await send('/api/admin/audit?limit=20', { headers: { authorization: `Bearer ${token}` } });
    expect(audit.status).toBe(200);
    const signIns = (audit.json.events as { type: string; ip: string | null }[]).filter((event) =>
      event.type.startsWith('login_'),
    );
    expect(signIns.map((event) => event.type).sort()).toEqual([
      'login_failed',
      'login_succeeded',
      'login_succeeded',
    ]);
    expect(new Set(signIns.map((event) => event.ip))).toEqual(new Set([CLIENT]));
  });

  it('buffers request bodies: a body sent over 1.5 s reaches the server whole, in one quick request', async () => {
    const body = JSON.stringify({ username: 'nobody', password: 'a-slowly-sent-password' });
    const half = Math.floor(body.length / 2);
    const reply = await new Promise<{ status: number; requestId: string }>((done, fail) => {
      const req = request(
        new URL('/api/auth/login', publicUrl),
        {
          method: 'POST',
          ca,
          localAddress: CLIENT,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            done({ status: res.statusCode ?? 0, requestId: String(res.headers['x-request-id']) }),
          );
        },
      );
      req.on('error', fail);
      req.write(body.slice(0, half));
      setTimeout(() => req.end(body.slice(half)), 1500);
    });
    expect(reply.status).toBe(401);
    // The server's own log line for that request: how long the server spent on it, body included.
    await expect.poll(() => server.output()).toContain(reply.requestId);
    const line = server
      .output()
      .split('\n')
      .find((entry) => entry.includes(reply.requestId));
    const { ms } = JSON.parse(line ?? '{}') as { ms: number };
    expect(ms, `nginx log:\n${nginxLog}`).toBeLessThan(1000);
  });
});
