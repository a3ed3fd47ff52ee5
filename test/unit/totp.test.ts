/**
 * The authenticator code as the user's app computes it (RFC 6238) and as an attacker would try to reuse it:
 * the step verifyTotp returns is what the account records, so a wrong step opens a replay or locks a user out.
 */
import { describe, expect, it } from 'vitest';
import { currentTotp, newTotpSecret, otpauthUri, verifyTotp } from '../../server/crypto/totp';

/** RFC 6238 appendix B's SHA-1 key, "12345678901234567890", in base32. */
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const STEP_MS = 30_000;
/** A fixed secret, so the codes of neighbouring steps are known to differ (checked below). */
const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
/** The middle of a step, so ±1 step lands well inside the neighbours. */
const NOW = 1_795_000_000_000 + 15_000;
const STEP = Math.floor(NOW / STEP_MS);
const codeAt = (step: number) => currentTotp(secret, step * STEP_MS + 1_000);

describe('codes as an authenticator app shows them', () => {
  it('match RFC 6238 (SHA-1, 30 s steps, the last 6 digits)', () => {
    const vectors: [number, string][] = [
      [59, '287082'],
      [1_111_111_109, '081804'],
      [1_111_111_111, '050471'],
      [1_234_567_890, '005924'],
      [2_000_000_000, '279037'],
    ];
    for (const [seconds, code] of vectors) {
      expect(currentTotp(RFC_SECRET, seconds * 1000)).toBe(code);
      expect(verifyTotp(RFC_SECRET, code, seconds * 1000, null)).toBe(Math.floor(seconds / 30));
    }
  });

  it('the enrolment link names SpareKey and the user and states the algorithm, digits and period', () => {
    const uri = new URL(otpauthUri(RFC_SECRET, 'alice'));
    expect(`${uri.protocol}//${uri.host}${decodeURIComponent(uri.pathname)}`).toBe(
      'otpauth://totp/SpareKey:alice',
    );
    expect(Object.fromEntries(uri.searchParams)).toEqual({
      issuer: 'SpareKey',
      secret: RFC_SECRET,
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    });
  });

  it('each new secret is 160 random bits in unpadded upper-case base32', () => {
    const secrets = new Set(Array.from({ length: 20 }, newTotpSecret));
    expect(secrets.size).toBe(20);
    for (const s of secrets) expect(s).toMatch(/^[A-Z2-7]{32}$/);
  });
});

describe('verifying a code', () => {
  it('returns the step the code belongs to: the current one, or one step either side for clock drift', () => {
    expect(verifyTotp(secret, codeAt(STEP), NOW, null)).toBe(STEP);
    expect(verifyTotp(secret, codeAt(STEP - 1), NOW, null)).toBe(STEP - 1);
    expect(verifyTotp(secret, codeAt(STEP + 1), NOW, null)).toBe(STEP + 1);
  });

  it('with no step recorded yet, accepts even the very first step of Unix time', () => {
    const first = currentTotp(secret, 15_000);
    expect(verifyTotp(secret, first, 15_000, null)).toBe(0);
  });

  it('refuses a code two steps away', () => {
    const codes = [-2, -1, 0, 1, 2].map((d) => codeAt(STEP + d));
    expect(new Set(codes).size).toBe(5);
    expect(verifyTotp(secret, codeAt(STEP - 2), NOW, null)).toBeNull();
    expect(verifyTotp(secret, codeAt(STEP + 2), NOW, null)).toBeNull();
  });

  it('accepts spaces inside the code as typed, and nothing but six digits', () => {
    const code = codeAt(STEP);
    expect(verifyTotp(secret, `${code.slice(0, 3)} ${code.slice(3)}`, NOW, null)).toBe(STEP);
    expect(verifyTotp(secret, ` ${code}\t`, NOW, null)).toBe(STEP);
    for (const bad of [`${code}0`, `0${code}`, code.slice(1), `x${code}`, `${code}x`, '', '      ']) {
      expect(verifyTotp(secret, bad, NOW, null)).toBeNull();
    }
  });
});

describe('replay protection', () => {
  it('a code accepted once is refused as replayed, in the same step and one step later', () => {
    const code = codeAt(STEP);
    expect(verifyTotp(secret, code, NOW, null)).toBe(STEP);
    expect(verifyTotp(secret, code, NOW, STEP)).toBe('replayed');
    // Still inside the ±1 window half a minute later: an observer who saw it must not get in.
    expect(verifyTotp(secret, code, NOW + STEP_MS, STEP)).toBe('replayed');
    // A wrong code stays wrong, whatever step was recorded.
    expect(verifyTotp(secret, codeAt(STEP + 5), NOW, STEP)).toBeNull();
  });

  it('after a code from a clock running ahead, the older current-step code is refused as replayed', () => {
    expect(verifyTotp(secret, codeAt(STEP + 1), NOW, null)).toBe(STEP + 1);
    expect(verifyTotp(secret, codeAt(STEP), NOW, STEP + 1)).toBe('replayed');
  });

  it('after a code from a clock running behind, the next step is still accepted', () => {
    const behind = verifyTotp(secret, codeAt(STEP - 1), NOW, null);
    expect(behind).toBe(STEP - 1);
    expect(verifyTotp(secret, codeAt(STEP), NOW, STEP - 1)).toBe(STEP);
    expect(verifyTotp(secret, codeAt(STEP + 1), NOW, STEP)).toBe(STEP + 1);
  });
});
