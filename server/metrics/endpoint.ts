/**
 * GET /metrics on its own port (METRICS_PORT), never on the public one: operational detail such as
 * sign-in failure rates and lockouts is for the operator's Prometheus, not for every client.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../log';

/** Resolves once listening (so its address is logged before the public port's), rejects if it cannot. */
export function serveMetrics(
  registry: Registry,
  listen: { host: string; port: number },
  log: Logger,
): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://metrics').pathname;
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response
        .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
        .end('Not found: GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        response.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        log.error('metrics unavailable', { error: String(error) });
        response.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end('Metrics unavailable\n');
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve({ server, address: server.address() as AddressInfo });
    });
  });
}
