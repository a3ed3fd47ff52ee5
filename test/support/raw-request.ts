/**
 * One HTTP(S) request with its headers exactly as given (fetch would not let a test set Host, nor
 * trust a self-signed certificate), the reply read whole.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface RawReply {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON; null for an HTML page or an empty body. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read fields of arbitrary JSON.
  json: any;
}

export function rawRequest(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    ca?: string;
    /** The client's own address (any of 127.0.0.0/8 on the loopback), to be told apart from a proxy's. */
    localAddress?: string;
  } = {},
): Promise<RawReply> {
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((done, fail) => {
    const req = send(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        // A connection of its own: a kept-alive socket from an earlier request may be one the server
        // is closing at that moment (its keep-alive timeout), which fails the request with a hang-up.
        agent: false,
        ...(options.ca ? { ca: options.ca } : {}),
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            for (const v of Array.isArray(value) ? value : [value ?? '']) headers.append(name, v);
          }
          let json: unknown = null;
          try {
            json = JSON.parse(text);
          } catch {
            // an HTML page
          }
          done({ status: res.statusCode ?? 0, headers, text, json });
        });
      },
    );
    req.on('error', fail);
    req.end(options.body);
  });
}
