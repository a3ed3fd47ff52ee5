/** GET /api/admin/audit pages back through rotated files by cursor; /api/admin/audit/export downloads a date range. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createApp } from '../../server/app';
import { defaultSecurityConfig } from '../../server/config';
import type { Deps } from '../../server/deps';
import { newUserRecord } from '../../server/services/users';
import { LowdbStore } from '../../server/store/lowdb';
import { FakeClock, fastHasher } from '../support/fakes';
import { call } from '../support/server';

const DAY = 24 * 60 * 60_000;
const START = Date.parse('2026-01-01T00:00:00Z');
let cleanup: () => Promise<void> = async () => {};
afterEach(() => cleanup());

async function setUp() {
  const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-audit-api-'));
  // Tiny audit files, so a few dozen events span several rotated ones.
  const store = new LowdbStore(dataDir, { audit: { rotateBytes: 3000, now: () => START + 60 * DAY } });
  await store.open();
  const deps: Deps = {
    store,
    hasher: fastHasher().hasher,
    clock: new FakeClock(START),
    security: defaultSecurityConfig(),
  };
  cleanup = async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  };
  const app = createApp(deps);
  const api = (method: string, path: string, token?: string) =>
    call((r) => app.fetch(r), method, path, { token });
  await store.createUser(await newUserRecord(deps, 'admin', 'admin-password', 'admin'));
  const login = await call((r) => app.fetch(r), 'POST', '/api/auth/login', {
    body: { username: 'admin', password: 'admin-password' },
  });
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) {
    const event = await store.appendAudit({
      at: new Date(START + i * DAY).toISOString(),
      type: 'login_failed',
      actor: null,
      subject: null,
      ip: '203.0.113.9',
      userAgent: i === 3 ? '=HYPERLINK("http://evil.example")' : 'test, "quoted"',
    });
    ids.push(event.id);
  }
  return { api, token: login.body.token as string, ids, app, store };
}

it('pages back through every rotated audit file with nextCursor, and refuses a forged cursor', async () => {
  const { api, token, ids } = await setUp();
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page = await api(
      'GET',
      `/api/admin/audit?limit=6&type=login_failed${cursor ? `&cursor=${cursor}` : ''}`,
      token,
    );
    expect(page.status).toBe(200);
    expect(page.body.events.length).toBeLessThanOrEqual(6);
    seen.push(...page.body.events.map((event: { id: string }) => event.id));
    cursor = page.body.nextCursor;
  } while (cursor);
  expect(seen).toEqual([...ids].reverse());
  const forged = await api('GET', '/api/admin/audit?cursor=eyJzIjoiYSJ9', token);
  expect(forged.status).toBe(400);
  expect(forged.body.error.field).toBe('cursor');
});

it('exports a date range as JSON Lines or CSV, oldest first, formulas defused', async () => {
  const { app, token, ids } = await setUp();
  const from = new Date(START + 2 * DAY).toISOString();
  const to = new Date(START + 12 * DAY).toISOString();
  const get = (format: string) =>
    app.fetch(
      new Request(`http://127.0.0.1/api/admin/audit/export?from=${from}&to=${to}&format=${format}`, {
        headers: { authorization: `Bearer ${token}` },
      }),
    );
  const jsonl = await get('jsonl');
  expect(jsonl.status).toBe(200);
  expect(jsonl.headers.get('content-disposition')).toBe(
    'attachment; filename="sparekey-audit-2026-01-03-2026-01-13.jsonl"',
  );
  const lines = (await jsonl.text())
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  expect(lines.map((event) => event.id)).toEqual(ids.slice(2, 12));
  expect(lines[0]).not.toHaveProperty('sum');

  const csv = await get('csv');
  expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
  const rows = (await csv.text()).trim().split('\n');
  expect(rows[0]).toBe('id,at,type,actor_id,actor,subject_id,subject,ip,user_agent,details');
  expect(rows).toHaveLength(11);
  expect(rows[2]).toContain(`"'=HYPERLINK(""http://evil.example"")"`);
  expect(rows[1]).toContain('"test, ""quoted"""');

  const backwards = await app.fetch(
    new Request(`http://127.0.0.1/api/admin/audit/export?from=${to}&to=${from}`, {
      headers: { authorization: `Bearer ${token}` },
    }),
  );
  expect(backwards.status).toBe(400);
});

it('reads the store only as fast as the client downloads the export, and stops when it goes away', async () => {
  const { app, token, ids, store } = await setUp();
  // Counts what the real store hands out; the events themselves are the store's own.
  let read = 0;
  const exportAudit = store.exportAudit.bind(store);
  store.exportAudit = (from, to) =>
    (async function* () {
      for await (const event of exportAudit(from, to)) {
        read++;
        yield event;
      }
    })();
  const response = await app.fetch(
    new Request(
      `http://127.0.0.1/api/admin/audit/export?from=${new Date(START + DAY).toISOString()}&to=${new Date(START + 40 * DAY).toISOString()}`,
      { headers: { authorization: `Bearer ${token}` } },
    ),
  );
  expect(response.status).toBe(200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const first = await reader.read();
  expect(JSON.parse(new TextDecoder().decode(first.value)).id).toBe(ids[1]);
  await new Promise((resolve) => setTimeout(resolve, 50));
  // One event read and at most a couple buffered ahead, not the 40 of the range.
  expect(read).toBeLessThanOrEqual(3);
  await reader.cancel();
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(read).toBeLessThanOrEqual(3);
});
