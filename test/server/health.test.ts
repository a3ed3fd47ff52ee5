/**
 * Liveness and readiness for load balancers and orchestrators: /healthz/live answers while the process
 * runs; /healthz/ready is 503 with Retry-After while the server starts, once it drains after SIGTERM,
 * and while its store is out of reach, 200 otherwise; /healthz stays as it was. The database stopped
 * under the real server is test/postgres/outage.test.ts.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../server/store/types';
import { buildTestApp, type TestApp } from '../support/fakes';
import { call, type RunningServer, startServer } from '../support/server';

let t: TestApp | undefined;
let server: RunningServer | undefined;
afterEach(async () => {
  await t?.close();
  await server?.stop();
  t = undefined;
  server = undefined;
});

describe('/healthz/live and /healthz/ready in process', () => {
  it('ready is 503 + Retry-After while starting and draining, live is 200 throughout', async () => {
    t = await buildTestApp();
    const { app, deps } = t;
    deps.lifecycle = { phase: 'starting' };
    const starting = await app.request('/healthz/ready');
    expect(starting.status).toBe(503);
    expect(starting.headers.get('retry-after')).toBe('1');
    expect(await starting.json()).toEqual({
      error: { code: 'starting', message: 'The server is starting.' },
    });
    expect((await app.request('/healthz/live')).status).toBe(200);

    deps.lifecycle.phase = 'serving';
    const ready = await app.request('/healthz/ready');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });

    deps.lifecycle.phase = 'draining';
    const draining = await app.request('/healthz/ready');
    expect(draining.status).toBe(503);
    expect(draining.headers.get('retry-after')).toBe('5');
    expect((await draining.json()).error.code).toBe('draining');
    const live = await app.request('/healthz/live');
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'live' });
  });

  it('ready is 503 + Retry-After while the store is out of reach; live does not ask the store', async () => {
    t = await buildTestApp();
    let down = true;
    const real = t.deps.store;
    t.deps.store = new Proxy(real, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) =>
          down
            ? Promise.reject(new StoreUnavailableError('connect ECONNREFUSED 127.0.0.1:5432'))
            : value.apply(target, args);
      },
    });
    const refused = await t.app.request('/healthz/ready');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect((await refused.json()).error.code).toBe('unavailable');
    expect((await t.app.request('/healthz/live')).status).toBe(200);
    expect((await t.app.request('/healthz')).status).toBe(503);

    down = false;
    expect((await t.app.request('/healthz/ready')).status).toBe(200);
    expect((await t.app.request('/healthz')).status).toBe(200);
  });
});

/** Sends `first`, then (after `between`) `rest` on one connection; resolves with everything the server answered. */
function onOneConnection(url: string, first: string, between: () => Promise<void>, rest: string) {
  const { hostname, port } = new URL(url);
  return new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
    socket.write(first, () => {
      between().then(() => socket.write(rest), reject);
    });
  });
}

describe('/healthz/live and /healthz/ready over HTTP', () => {
  it('answer 200 on a running server, beside /healthz', async () => {
    server = await startServer();
    const live = await call(server.url, 'GET', '/healthz/live');
    expect(live.status).toBe(200);
    expect(live.body).toEqual({ status: 'live' });
    const ready = await call(server.url, 'GET', '/healthz/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready' });
    expect((await call(server.url, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
  });

  it('after SIGTERM: the request in flight is answered, then readiness is refused', async () => {
    const running = await startServer();
    server = running;
    const body = JSON.stringify({ username: 'nobody', password: 'not-the-password' });
    // A sign-in whose body has not arrived yet keeps the connection in use while the server stops.
    const head = `POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    const answer = await onOneConnection(
      running.url,
      head,
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        running.process.kill('SIGTERM');
        await expect.poll(() => running.output(), { timeout: 10_000 }).toContain('"shutting down"');
        // The listener is closed: a balancer's probe fails at once, as a 503 from /healthz/ready would.
        await expect(fetch(`${running.url}/healthz/ready`)).rejects.toThrow();
      },
      `${body}GET /healthz/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
    );
    // The sign-in in flight finishes; then the connection is closed: nothing more reaches this instance.
    expect([...answer.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((match) => match[1])).toEqual(['401']);
    expect(await running.stop()).toBe(0);
  });
});
