/**
 * The real server behind a simulated reverse proxy: plain HTTP on the loopback, with the headers a
 * proxy adds (X-Forwarded-For appended on the right, Host and X-Forwarded-Proto of the public address).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { call, type RunningServer, startServer } from '../support/server';

/** X-Forwarded-For as a proxy passes it on: what the client sent, then the address the proxy saw. */
const forwarded = (clientWrote: string, proxySaw: string) => ({
  'x-forwarded-for': clientWrote ? `${clientWrote}, ${proxySaw}` : proxySaw,
});

describe('TRUST_PROXY=1: the client address is the one the proxy appended', () => {
  let server: RunningServer;
  afterEach(async () => {
    await server?.stop();
  });

  const login = (headers: Record<string, string>, password = 'wrong-password') =>
    call(server.url, 'POST', '/api/auth/login', { headers, body: { username: 'admin', password } });

  it('a client rotating the leftmost X-Forwarded-For entries is still throttled by its real address', async () => {
    server = await startServer({ env: { TRUST_PROXY: '1', IP_FAILURE_LIMIT: '3' } });
    for (let i = 0; i < 3; i++) {
      const res = await login(forwarded(`10.0.0.${i}, 192.0.2.${i}`, '203.0.113.9'));
      expect(res.status).toBe(401);
    }
    // A fresh made-up address on the left, the right password: still the same client, still throttled.
    const blocked = await login(forwarded('10.9.9.9', '203.0.113.9'), server.adminPassword);
    expect(blocked.status).toBe(429);
    // The same address written another way (IPv4-mapped IPv6) is the same client.
    expect((await login(forwarded('', '::ffff:203.0.113.9'), server.adminPassword)).status).toBe(429);
    // Another client behind the same proxy is not.
    expect((await login(forwarded('203.0.113.9', '198.51.100.7'), server.adminPassword)).status).toBe(200);
  });

  it('an X-Forwarded-For value that is not an address never reaches the audit log', async () => {
    server = await startServer({ env: { TRUST_PROXY: '1' } });
    const hostile = ['<script>alert(1)</script>', 'unknown', '1.2.3.4:80', '../../etc'];
    for (const value of hostile) {
      expect((await login(forwarded('', value))).status).toBe(401);
      expect((await login(forwarded(value, value))).status).toBe(401);
    }
    const admin = await login(forwarded('', '198.51.100.8'), server.adminPassword);
    expect(admin.status).toBe(200);
    const audit = await call(server.url, 'GET', '/api/admin/audit?type=login_failed&limit=500', {
      token: admin.body.token,
      headers: forwarded('', '198.51.100.8'),
    });
    expect(audit.status).toBe(200);
    const ips = audit.body.events.map((e: { ip: string | null }) => e.ip);
    expect(ips).toHaveLength(hostile.length * 2);
    // A value that is not an address falls back to the socket: the proxy, here the loopback.
    expect(new Set(ips)).toEqual(new Set(['127.0.0.1']));
  });
});
