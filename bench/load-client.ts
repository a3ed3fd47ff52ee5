/**
 * The load clients' HTTP: node:http over kept-alive connections, one per client. The clients share
 * the server's two cores, so what they spend is taken from what is measured: fetch (undici) cost them
 * 2.2 ms of CPU per request, more than the server's own event loop spent on it; this costs a fraction.
 * A real deployment's clients are on other machines.
 */
import { Agent, request } from 'node:http';

export interface LoadReply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: the bench reads fields of the API's JSON answers.
  json: any;
}

export class LoadClient {
  readonly #agent: Agent;
  readonly #url: URL;

  constructor(baseUrl: string, connections: number) {
    this.#url = new URL(baseUrl);
    this.#agent = new Agent({ keepAlive: true, maxSockets: connections });
  }

  get(path: string): Promise<LoadReply> {
    return this.#send('GET', path, null, {});
  }

  post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<LoadReply> {
    return this.#send('POST', path, JSON.stringify(body), headers);
  }

  #send(method: string, path: string, payload: string | null, headers: Record<string, string>) {
    return new Promise<LoadReply>((done, fail) => {
      const req = request(
        {
          host: this.#url.hostname,
          port: this.#url.port,
          path,
          method,
          agent: this.#agent,
          headers:
            payload === null
              ? headers
              : {
                  'content-type': 'application/json',
                  'content-length': Buffer.byteLength(payload),
                  ...headers,
                },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => {
            let json: unknown = null;
            try {
              json = JSON.parse(text);
            } catch {
              // not JSON: the status says what happened
            }
            done({ status: res.statusCode ?? 0, json });
          });
          res.on('error', fail);
        },
      );
      req.on('error', fail);
      req.end(payload ?? undefined);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
