/**
 * Items 1 and 2: what one wrong backup code costs to check, against the set size, with the server's
 * scheme (one argon2id under the set's salt, then constant-time compares) and with the usual scheme
 * (each code hashed with its own salt, the attempt verified against each stored hash in turn, as
 * Nextcloud and devise-two-factor do). Both run in this process with the same argon2id parameters.
 */
import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import { type Argon2Params, argon2Hasher } from '../server/crypto/hasher';
import { findCode } from '../server/services/backup-codes';
import type { BackupCodeSet } from '../server/store/types';
import { generateCode } from '../shared/codes';
import { type Summary, summarize, timed } from './stats';

export const SET_SIZES = [1, 10, 20] as const;

export interface VerifyCostResult {
  ours: Record<number, Summary>;
  baseline: Record<number, Summary>;
}

async function ourSet(params: Argon2Params, size: number): Promise<{ set: BackupCodeSet; codes: string[] }> {
  const hasher = argon2Hasher(params);
  const salt = randomBytes(16);
  const codes = Array.from({ length: size }, generateCode);
  const digests = await Promise.all(codes.map((code) => hasher.codeDigest(code, salt)));
  return {
    codes,
    set: {
      id: `set-${size}`,
      salt: salt.toString('base64'),
      generatedAt: new Date().toISOString(),
      codes: digests.map((d, i) => ({ number: i + 1, digest: d.toString('base64'), usedAt: null })),
    },
  };
}

/** The per-code PHC strings of the usual scheme: every code has its own salt. */
function baselineSet(params: Argon2Params, codes: string[]): Promise<string[]> {
  return Promise.all(codes.map((code) => argon2.hash(code, { type: argon2.argon2id, ...params })));
}

/** A code of the right format that is in no set: the attacker's guess, or a mistyped code. */
function wrongCode(taken: Set<string>): string {
  for (;;) {
    const code = generateCode();
    if (!taken.has(code)) return code;
  }
}

/** Sequential: one attempt at a time, so each sample is the cost of one attempt on an idle machine. */
export async function measureVerifyCost(
  params: Argon2Params,
  rounds: { ours: number; baseline: number },
): Promise<VerifyCostResult> {
  const hasher = argon2Hasher(params);
  const ours = new Map<number, { set: BackupCodeSet; codes: string[] }>();
  const baseline = new Map<number, string[]>();
  const taken = new Set<string>();
  for (const size of SET_SIZES) {
    const built = await ourSet(params, size);
    ours.set(size, built);
    baseline.set(size, await baselineSet(params, built.codes));
    for (const code of built.codes) taken.add(code);
  }

  const checkOurs = async (size: number) => {
    const { set } = ours.get(size) as { set: BackupCodeSet };
    const digest = await hasher.codeDigest(wrongCode(taken), Buffer.from(set.salt, 'base64'));
    if (findCode(set, digest) !== -1) throw new Error('a wrong code matched');
  };
  const checkBaseline = async (size: number) => {
    const attempt = wrongCode(taken);
    for (const hash of baseline.get(size) as string[]) {
      if (await argon2.verify(hash, attempt)) throw new Error('a wrong code matched');
    }
  };

  // Warm up argon2's memory and the JIT before the first sample.
  for (let i = 0; i < 3; i++) await checkOurs(1);

  const samples = { ours: new Map<number, number[]>(), baseline: new Map<number, number[]>() };
  for (const size of SET_SIZES) {
    samples.ours.set(size, []);
    samples.baseline.set(size, []);
  }
  // Interleaved, so a change in the machine's load touches every set size alike.
  const total = Math.max(rounds.ours, rounds.baseline);
  for (let round = 0; round < total; round++) {
    for (const size of SET_SIZES) {
      if (round < rounds.ours) samples.ours.get(size)?.push(await timed(() => checkOurs(size)));
      if (round < rounds.baseline) samples.baseline.get(size)?.push(await timed(() => checkBaseline(size)));
    }
  }
  const result: VerifyCostResult = { ours: {}, baseline: {} };
  for (const size of SET_SIZES) {
    result.ours[size] = summarize(samples.ours.get(size) ?? []);
    result.baseline[size] = summarize(samples.baseline.get(size) ?? []);
  }
  return result;
}

/** The time of one argon2id evaluation with the server's parameters, for the throughput limit. */
export async function measureHashTime(params: Argon2Params, samples: number): Promise<Summary> {
  const hasher = argon2Hasher(params);
  const salt = randomBytes(16);
  for (let i = 0; i < 3; i++) await hasher.codeDigest(generateCode(), salt);
  const times: number[] = [];
  for (let i = 0; i < samples; i++) times.push(await timed(() => hasher.codeDigest(generateCode(), salt)));
  return summarize(times);
}

/**
 * Hashes per second with `workers` evaluations always running side by side in this process, no server
 * involved: what the machine's cores really deliver for argon2id, next to the ideal cores / one hash.
 */
export async function measureParallelHashRate(params: Argon2Params, workers: number, perWorker: number) {
  const hasher = argon2Hasher(params);
  const salt = randomBytes(16);
  const worker = async () => {
    for (let i = 0; i < perWorker; i++) await hasher.codeDigest(generateCode(), salt);
  };
  const took = await timed(() => Promise.all(Array.from({ length: workers }, worker)));
  return (workers * perWorker) / (took / 1000);
}
