/**
 * Issue #23's ways of making everyone's sign-in fail without a password flood, against the real server
 * over HTTP with real argon2id: sign-in requests whose body never finishes (finding 1), and a signed-in
 * user asking for new backup codes in a loop (finding 3). Each time, another client's sign-in is judged
 * as usual (200 or 401), never shed with 503.
 */
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { currentTotp } from '../../server/crypto/totp';
import { call, type RunningServer, startServer } from '../support/server';

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

interface HeldRequest {
  socket: Socket;
  /** Everything the server sent, once it closed the connection (or the test did). */
  reply: Promise<string>;
  /** When the connection closed, in performance.now() milliseconds; null while open. */
  closedAt(): number | null;
}

/** Sends the headers and `sent` of a body announced as 100 bytes long, and nothing more. */
function holdPartialBody(
  url: string,
  path: string,
  headers: Record<string, string>,
  sent: string,
): HeldRequest {
  const { hostname, port, host } = new URL(url);
  const socket = connect(Number(port), hostname);
  let closedAt: number | null = null;
  const reply = new Promise<string>((done) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closedAt = performance.now();
      done(text);
    });
  });
  const lines = [`POST ${path} HTTP/1.1`, `Host: ${host}`, 'Content-Length: 100'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n${sent}`);
  return { socket, reply, closedAt: () => closedAt };
}

const apiLogin = (url: string) =>
  holdPartialBody(url, '/api/auth/login', { 'Content-Type': 'application/json' }, '{"username":"adm');
const webLogin = (url: string) =>
  holdPartialBody(
    url,
    '/login',
    { 'Content-Type': 'application/x-www-form-urlencoded', Origin: new URL(url).origin, Accept: 'text/html' },
    'username=adm',
  );

/** One sign-in by another client: the admin (200) or a name nobody has (401). */
async function someoneSignsIn(server: RunningServer, i: number) {
  const known = i % 2 === 0;
  const res = await call(server.url, 'POST', '/api/auth/login', {
    body: known
      ? { username: 'admin', password: server.adminPassword }
      : { username: `nobody-${i}`, password: 'wrong-password' },
  });
  return res.status;
}

describe('sign-in requests whose body never finishes', () => {
  it('hold no place in the overload gate: while 20 sockets hold a partial body for 10 s, every other sign-in is judged', async () => {
    // The smallest queue wait the server takes, and a body clock longer than the test: the held
    // requests stay unanswered throughout, and would be shed-counting work if they were let in.
    const server = await startServer({
      env: { ARGON2_QUEUE_MAX_WAIT_MS: '100', SIGN_IN_BODY_TIMEOUT_MS: '15000' },
    });
    const held = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? apiLogin : webLogin)(server.url));
    try {
      const statuses: number[] = [];
      const started = performance.now();
      for (let i = 0; performance.now() - started < 10_000; i++) {
        await sleep(400);
        statuses.push(await someoneSignsIn(server, i));
      }
      expect(statuses.length).toBeGreaterThan(10);
      expect(statuses.filter((status) => status !== 200 && status !== 401)).toEqual([]);
      expect(statuses).toContain(200);
      expect(statuses).toContain(401);
      // All 20 were still being held, unanswered, for the whole 10 s.
      expect(held.map((request) => request.closedAt())).toEqual(Array(20).fill(null));
    } finally {
      for (const request of held) request.socket.destroy();
      await server.stop();
    }
  }, 60_000);

  it('get 408 once SIGN_IN_BODY_TIMEOUT_MS has passed (the API its error shape, the web form a page) and lose their connection', async () => {
    const server = await startServer({ env: { SIGN_IN_BODY_TIMEOUT_MS: '1000' } });
    const started = performance.now();
    const [api, web] = [apiLogin(server.url), webLogin(server.url)];
    try {
      const replies = await Promise.race([
        Promise.all([api.reply, web.reply]),
        sleep(8000).then(() => ['no answer in 8 s', 'no answer in 8 s']),
      ]);
      const [apiReply = '', webReply = ''] = replies;
      expect(apiReply).toMatch(/^HTTP\/1\.1 408 /);
      expect(apiReply).toMatch(/\r\nconnection: close\r\n/i);
      expect(JSON.parse(apiReply.slice(apiReply.indexOf('\r\n\r\n') + 4))).toEqual({
        error: {
          code: 'request_timeout',
          message: 'The request body did not arrive within 1 second. Send the request again.',
        },
      });
      expect(webReply).toMatch(/^HTTP\/1\.1 408 /);
      expect(webReply).toMatch(/content-type: text\/html/i);
      expect(webReply).toContain('The request body did not arrive within 1 second.');
      for (const request of [api, web]) {
        const closedAfter = (request.closedAt() ?? Number.POSITIVE_INFINITY) - started;
        expect(closedAfter).toBeGreaterThanOrEqual(900);
        expect(closedAfter).toBeLessThan(5000);
      }
      // The server carries on: a whole request is judged as usual.
      expect(await someoneSignsIn(server, 0)).toBe(200);
    } finally {
      for (const request of [api, web]) request.socket.destroy();
      await server.stop();
    }
  }, 60_000);

  it('and requests whose headers never finish, on any path, are closed by the server within about 10 s', async () => {
    const server = await startServer();
    try {
      const { hostname, port } = new URL(server.url);
      const socket = connect(Number(port), hostname);
      socket.on('error', () => undefined);
      // Read what comes (Node's own 408), so that the server's end of the connection is seen.
      socket.resume();
      const started = performance.now();
      const closed = new Promise<number>((done) =>
        socket.on('close', () => done(performance.now() - started)),
      );
      socket.write('POST /api/admin/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n');
      const after = await Promise.race([closed, sleep(20_000).then(() => Number.POSITIVE_INFINITY)]);
      socket.destroy();
      expect(after).toBeGreaterThanOrEqual(9000);
      expect(after).toBeLessThan(15_000);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe('a signed-in user asking for new backup codes in a loop', () => {
  it('cannot push another user’s sign-in into 503, and gets 429 with Retry-After past a few sets a minute', async () => {
    const server = await startServer({ env: { ARGON2_QUEUE_MAX_WAIT_MS: '1000' } });
    try {
      const admin = await call(server.url, 'POST', '/api/auth/login', {
        body: { username: 'admin', password: server.adminPassword },
      });
      const adminToken = admin.body.token as string;
      const policy = {
        mfaUsage: 'optional_per_user',
        backupCodes: { enabled: true, count: 20, warnWhenRemaining: 2 },
      };
      expect(
        (await call(server.url, 'PUT', '/api/admin/policy', { token: adminToken, body: policy })).status,
      ).toBe(200);
      const password = 'mallory-password-123';
      const created = await call(server.url, 'POST', '/api/admin/users', {
        token: adminToken,
        body: { username: 'mallory', password },
      });
      const patched = await call(server.url, 'PATCH', `/api/admin/users/${created.body.user.id}`, {
        token: adminToken,
        body: { mfa: { type: 'totp' } },
      });
      const challenge = await call(server.url, 'POST', '/api/auth/login', {
        body: { username: 'mallory', password },
      });
      const session = await call(server.url, 'POST', '/api/auth/mfa', {
        body: {
          mfaToken: challenge.body.mfaToken,
          method: 'totp',
          code: currentTotp(patched.body.totp.secret, Date.now()),
        },
      });
      expect(session.status).toBe(200);
      const generate = () =>
        call(server.url, 'POST', '/api/me/backup-codes', { token: session.body.token, body: { password } });

      // Another client signs in all along.
      let looping = true;
      const signIns = (async () => {
        const statuses: number[] = [];
        for (let i = 0; looping; i++) {
          statuses.push(await someoneSignsIn(server, i));
          await sleep(100);
        }
        return statuses;
      })();
      const answers = await Promise.all(Array.from({ length: 12 }, generate));
      const started = performance.now();
      while (performance.now() - started < 4000) {
        answers.push(...(await Promise.all(Array.from({ length: 4 }, generate))));
      }
      looping = false;
      const statuses = await signIns;

      expect(statuses.length).toBeGreaterThan(5);
      expect(statuses.filter((status) => status !== 200 && status !== 401)).toEqual([]);
      const generated = answers.filter((res) => res.status === 201);
      const limited = answers.filter((res) => res.status === 429);
      expect(generated.length).toBe(3);
      expect(limited.length).toBe(answers.length - 3);
      for (const res of limited) {
        expect(res.body.error.code).toBe('too_many_requests');
        expect(res.headers.get('retry-after')).toBe('60');
      }
    } finally {
      await server.stop();
    }
  }, 60_000);
});
