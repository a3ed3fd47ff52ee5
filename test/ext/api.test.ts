import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { ApiError, createApi } from '../../extension/src/api';
import { hostPattern, parseServerUrl, savedServerUrl } from '../../extension/src/server-url';
import { fake, resetFakeBrowser } from './fake-browser';
import { errorReply, fakeServer, SERVER } from './fake-server';

vi.mock('webextension-polyfill', async () => (await import('./fake-browser')).polyfillModule);

afterEach(() => {
  vi.unstubAllGlobals();
});

async function failure(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(error)}`);
  return error;
}

describe('api client', () => {
  test('sends the token as a Bearer header only, JSON bodies, and no cookies', async () => {
    const server = fakeServer({
      'POST /api/me/backup-codes': { status: 201, body: { codes: [], generatedAt: 'x' } },
    });
    await createApi(`${SERVER}/`, 'tok').generateCodes('pw');
    const [url, init] = vi.mocked(fetch).mock.calls[0] as [string, RequestInit];
    expect(url).toBe(`${SERVER}/api/me/backup-codes`);
    expect(init.credentials).toBe('omit');
    expect(server.calls[0]?.headers).toMatchObject({
      Authorization: 'Bearer tok',
      'Content-Type': 'application/json',
    });
    expect(server.calls[0]?.body).toEqual({ password: 'pw' });
  });

  test('without a token there is no Authorization header', async () => {
    const server = fakeServer({ 'POST /api/auth/login': { body: { status: 'ok', token: 't', user: {} } } });
    await createApi(SERVER).login('alice', 'pw');
    expect(server.calls[0]?.headers.Authorization).toBeUndefined();
  });

  test('the background’s own requests say so in a header, so they do not keep an idle session alive', async () => {
    const server = fakeServer({
      'GET /api/me': { body: {} },
      'GET /api/me/events': { body: { events: [] } },
    });
    const background = createApi(SERVER, 'tok', { background: true });
    await background.me();
    await background.myEvents();
    await createApi(SERVER, 'tok').me();
    expect(server.calls.map((call) => call.headers['X-SpareKey-Background'])).toEqual(['1', '1', undefined]);
    // Only the header: the URL stays clean.
    expect(server.calls.map((call) => call.path)).toEqual(['/api/me', '/api/me/events', '/api/me']);
  });

  test('parses the error shape, with the field a validation error names', async () => {
    fakeServer({
      'PUT /api/admin/policy': errorReply(400, 'invalid_request', 'backupCodes.count: Too many.', {
        field: 'backupCodes.count',
      }),
    });
    const error = await failure(
      createApi(SERVER, 't').savePolicy({
        mfaUsage: 'required',
        backupCodes: { enabled: true, count: 99, warnWhenRemaining: 3 },
      }),
    );
    expect(error).toMatchObject({ status: 400, code: 'invalid_request', field: 'backupCodes.count' });
    expect(error.message).toBe('backupCodes.count: Too many.');
  });

  test('429 carries the Retry-After seconds, whether given as seconds or as a date', async () => {
    const server = fakeServer({
      'POST /api/auth/mfa': {
        ...errorReply(429, 'too_many_attempts', 'Locked.'),
        headers: { 'Retry-After': '90' },
      },
    });
    expect((await failure(createApi(SERVER).mfa('m', 'totp', '1'))).retryAfterSeconds).toBe(90);
    const inTwoMinutes = new Date(Date.now() + 120_000).toUTCString();
    server.on('POST /api/auth/mfa', {
      ...errorReply(429, 'too_many_attempts', 'Locked.'),
      headers: { 'Retry-After': inTwoMinutes },
    });
    const seconds = (await failure(createApi(SERVER).mfa('m', 'totp', '1'))).retryAfterSeconds ?? 0;
    expect(seconds).toBeGreaterThan(100);
    expect(seconds).toBeLessThanOrEqual(120);
  });

  test('a failed connection is "unreachable", status 0', async () => {
    fakeServer({}).setOffline(true);
    expect(await failure(createApi(SERVER).login('a', 'b'))).toMatchObject({
      status: 0,
      code: 'unreachable',
    });
  });

  test('an error without the JSON shape (a proxy page) still becomes an ApiError', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response('<html>Bad gateway</html>', { status: 502 })),
    );
    expect(await failure(createApi(SERVER, 't').me())).toMatchObject({ status: 502, code: 'http_502' });
  });

  test('204 answers resolve without a body', async () => {
    fakeServer({ 'POST /api/auth/logout': { status: 204 } });
    await expect(createApi(SERVER, 't').logout()).resolves.toBeUndefined();
  });

  test('user ids are path-encoded', async () => {
    const server = fakeServer({});
    await createApi(SERVER, 't')
      .deleteUser('../policy')
      .catch(() => undefined);
    expect(server.calls[0]?.path).toBe('/api/admin/users/..%2Fpolicy');
  });
});

describe('server address', () => {
  beforeEach(() => resetFakeBrowser());

  test.each([
    ['https://sparekey.example.com', 'https://sparekey.example.com'],
    ['  https://sparekey.example.com/  ', 'https://sparekey.example.com'],
    ['https://example.com/sparekey/', 'https://example.com/sparekey'],
    ['http://127.0.0.1:8787', 'http://127.0.0.1:8787'],
    ['http://localhost:8787/', 'http://localhost:8787'],
  ])('%s is accepted as %s', (input, url) => {
    expect(parseServerUrl(input)).toEqual({ url });
  });

  test.each([
    ['http://sparekey.example.com', 'insecure'],
    ['http://192.168.1.10:8787', 'insecure'],
    ['sparekey.example.com', 'invalid'],
    ['ftp://sparekey.example.com', 'invalid'],
    ['https://user:pw@sparekey.example.com', 'invalid'],
    ['https://sparekey.example.com/?token=x', 'invalid'],
  ])('%s is refused (%s)', (input, problem) => {
    expect(parseServerUrl(input)).toEqual({ problem });
  });

  test('a saved address is read back in its canonical form', async () => {
    await fake.storage.local.set({ serverUrl: 'https://sparekey.example.com:8443/base/' });
    expect(await savedServerUrl()).toBe('https://sparekey.example.com:8443/base');
  });

  test.each([
    ['plain http to another machine', 'http://sparekey.example.com'],
    ['a query', 'https://sparekey.example.com/?next=/wiki'],
    ['credentials', 'https://user:pw@sparekey.example.com'],
    ['another scheme', 'javascript:alert(1)'],
    ['not a URL', 'sparekey.example.com'],
    ['not text', { url: 'https://sparekey.example.com' }],
  ])('a saved address with %s is read as not configured', async (_, stored) => {
    await fake.storage.local.set({ serverUrl: stored });
    expect(await savedServerUrl()).toBeNull();
  });

  test('the host permission covers that host only, on any port', () => {
    expect(hostPattern('https://sparekey.example.com:8443/base')).toBe('https://sparekey.example.com/*');
    expect(hostPattern('http://127.0.0.1:8787')).toBe('http://127.0.0.1/*');
  });
});
