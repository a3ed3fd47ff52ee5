/**
 * A minimal browser for the HTTP tests: a cookie jar per host (as browsers scope cookies: by host and
 * path, not by port), redirects followed one by one so each hop can be checked, and the web sign-in's
 * forms filled (the CSRF field read from the page, never made up). Its requests say they are
 * top-level navigations (`Sec-Fetch-Mode: navigate`, `Sec-Fetch-Dest: document`), as a browser's are:
 * a relying party such as mod_auth_openidc starts a sign-in only for those. (fetch cannot send them:
 * it always says `Sec-Fetch-Mode: cors`.)
 */
import { expect } from 'vitest';
import { rawRequest } from './raw-request';

interface Cookie {
  name: string;
  value: string;
  host: string;
  path: string;
}

export interface Hop {
  url: string;
  status: number;
  location: string | null;
  body: string;
  /** The response's Content-Security-Policy, or null. */
  csp: string | null;
}

export class HttpBrowser {
  readonly cookies: Cookie[] = [];
  /** Every response of the last navigation, in order. */
  hops: Hop[] = [];

  cookieHeader(url: URL): string {
    return this.cookies
      .filter(
        (c) =>
          c.host === url.hostname &&
          (url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)),
      )
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  #store(url: URL, headers: Headers) {
    for (const line of headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const pathAttr = attributes.find((a) => a.toLowerCase().startsWith('path='));
      const path = pathAttr ? pathAttr.slice(5) : '/';
      const expired = attributes.some((a) => /^max-age=0$/i.test(a) || /^expires=thu, 01 jan 1970/i.test(a));
      const index = this.cookies.findIndex(
        (c) => c.name === name && c.host === url.hostname && c.path === path,
      );
      if (index !== -1) this.cookies.splice(index, 1);
      if (!expired && value !== '') this.cookies.push({ name, value, host: url.hostname, path });
    }
  }

  /** One request, no redirect followed. */
  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Hop> {
    const target = new URL(url);
    const headers: Record<string, string> = {
      accept: 'text/html',
      'sec-fetch-mode': 'navigate',
      'sec-fetch-dest': 'document',
    };
    const cookie = this.cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = target.origin;
      body = new URLSearchParams(init.form).toString();
    }
    const response = await rawRequest(target.href, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      headers,
      body,
    });
    this.#store(target, response.headers);
    const hop = {
      url: target.href,
      status: response.status,
      location: response.headers.get('location'),
      body: response.text,
      csp: response.headers.get('content-security-policy'),
    };
    this.hops.push(hop);
    return hop;
  }

  /**
   * Follows redirects and meta refreshes (as a browser does) until a page that stays; resolves with
   * that page. `stopAt` ends the walk early at the first URL it matches, without requesting it.
   */
  async navigate(
    url: string,
    init: { method?: string; form?: Record<string, string>; stopAt?: (url: URL) => boolean } = {},
  ): Promise<Hop> {
    this.hops = [];
    let hop = await this.request(url, init);
    for (let i = 0; i < 20; i++) {
      const refresh =
        hop.status === 200 ? hop.body.match(/<meta http-equiv="refresh" content="0;url=([^"]+)">/) : null;
      const next = hop.location ?? refresh?.[1]?.replaceAll('&amp;', '&') ?? null;
      if (!next || hop.status >= 400) return hop;
      const target = new URL(next, hop.url);
      if (init.stopAt?.(target)) return { ...hop, location: target.href };
      hop = await this.request(target.href);
    }
    throw new Error('too many redirects');
  }

  /** Submits the page's first form with the given fields, its CSRF token added. */
  async submit(page: Hop, fields: Record<string, string>, action?: string): Promise<Hop> {
    const csrf = page.body.match(/name="csrf" value="([^"]+)"/)?.[1];
    expect(csrf, `a CSRF field on ${page.url}`).toBeTruthy();
    const formAction =
      action ?? page.body.match(/<form[^>]*action="([^"]+)"/)?.[1] ?? new URL(page.url).pathname;
    return this.navigate(new URL(formAction, page.url).href, { form: { csrf: csrf ?? '', ...fields } });
  }
}
