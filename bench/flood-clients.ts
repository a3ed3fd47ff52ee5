/**
 * The attackers of row 8 (bench/flood.ts), in a process of their own so that their work does not
 * delay the probes' own timing: `node --import tsx bench/flood-clients.ts` with FLOOD_URL,
 * FLOOD_CLIENTS, FLOOD_WARMUP_MS, FLOOD_DURATION_MS and FLOOD_HONOUR_RETRY_AFTER. Prints "started",
 * then one JSON line of results.
 *
 * Each client sends wrong-password sign-ins for unknown names one after another, by default never
 * waiting for Retry-After (the worst case), and claims a new address (X-Forwarded-For, the server has
 * TRUST_PROXY=1) before the per-address limit would stop it.
 */
import { randomBytes } from 'node:crypto';
import { call } from '../test/support/server';
import { summarize } from './stats';

/** Stays under the default IP_FAILURE_LIMIT (100). */
const ATTEMPTS_PER_ADDRESS = 90;

const url = process.env.FLOOD_URL ?? '';
const clients = Number(process.env.FLOOD_CLIENTS);
const measureFrom = performance.now() + Number(process.env.FLOOD_WARMUP_MS);
const end = measureFrom + Number(process.env.FLOOD_DURATION_MS);
/** Row 8r: polite clients that wait as told after a 503. */
const honourRetryAfter = process.env.FLOOD_HONOUR_RETRY_AFTER === '1';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const judged: number[] = [];
const shed: number[] = [];
const other: Record<string, number> = {};
let addressSerial = 0;

async function client() {
  let address = '';
  let addressUses = ATTEMPTS_PER_ADDRESS;
  while (performance.now() < end) {
    if (addressUses++ >= ATTEMPTS_PER_ADDRESS) {
      const n = addressSerial++;
      address = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
      addressUses = 1;
    }
    const began = performance.now();
    const res = await call(url, 'POST', '/api/auth/login', {
      body: { username: `spray-${randomBytes(6).toString('hex')}`, password: 'Winter2026!' },
      headers: { 'x-forwarded-for': address },
    });
    const finished = performance.now();
    const shedNow = res.status === 503 && res.body?.error?.code === 'overloaded';
    if (finished >= measureFrom && finished <= end) {
      if (res.status === 401) judged.push(finished - began);
      else if (shedNow) shed.push(finished - began);
      else {
        const key = `${res.status} ${res.body?.error?.code ?? ''}`.trim();
        other[key] = (other[key] ?? 0) + 1;
      }
    }
    if (shedNow && honourRetryAfter) {
      await sleep(Math.min(1000 * Number(res.headers.get('retry-after')), end - performance.now()));
    }
  }
}

process.stdout.write('started\n');
await Promise.all(Array.from({ length: clients }, client));
process.stdout.write(`${JSON.stringify({ judged: summarize(judged), shed: summarize(shed), other })}\n`);
