import { describe, expect, it } from 'vitest';
import { isOwnUse, type OwnUse, withOwnUse } from '../../extension/src/vault/own-uses';
import type { AuditEvent } from '../../shared/api';

const SERVER = 'https://sparekey.example';
const AT = Date.UTC(2026, 11, 1, 10, 0, 0);
const MINUTE = 60_000;
const ALICE = { id: 'u-alice', username: 'alice' };

function used(number: number, at: number, subject = ALICE): AuditEvent {
  return {
    id: `e-${number}-${at}`,
    at: new Date(at).toISOString(),
    type: 'backup_code_used',
    actor: subject,
    subject,
    ip: '203.0.113.7',
    userAgent: null,
    details: { number, remaining: 3 },
  };
}

const fill: OwnUse = { server: SERVER, username: 'alice', userId: 'u-alice', number: 2, at: AT };

describe('which code uses were this browser’s own', () => {
  it('a filled number used within the life of its sign-in, by its user on its server', () => {
    expect(isOwnUse(used(2, AT + 5 * MINUTE), [fill], SERVER)).toBe(true);
    // The server's clock may run a little behind the browser's.
    expect(isOwnUse(used(2, AT - 30_000), [fill], SERVER)).toBe(true);
    expect(isOwnUse(used(3, AT + MINUTE), [fill], SERVER)).toBe(false);
    expect(isOwnUse(used(2, AT + 11 * MINUTE), [fill], SERVER)).toBe(false);
    expect(isOwnUse(used(2, AT - 2 * MINUTE), [fill], SERVER)).toBe(false);
    expect(isOwnUse(used(2, AT + MINUTE), [fill], 'https://other.example')).toBe(false);
    expect(isOwnUse(used(2, AT + MINUTE, { id: 'u-bob', username: 'bob' }), [fill], SERVER)).toBe(false);
    // Same name, another account (deleted and created again): not ours.
    expect(isOwnUse(used(2, AT + MINUTE, { id: 'u-new', username: 'alice' }), [fill], SERVER)).toBe(false);
  });

  it('a set kept before user ids were recorded matches by name, in any case', () => {
    const legacy = { ...fill, userId: null, username: 'Alice' };
    expect(isOwnUse(used(2, AT + MINUTE), [legacy], SERVER)).toBe(true);
    expect(isOwnUse(used(2, AT + MINUTE, { id: 'u-bob', username: 'bob' }), [legacy], SERVER)).toBe(false);
  });

  it('a typed sign-in, its number unknown, covers only a use close to it', () => {
    const typed = { ...fill, number: null };
    expect(isOwnUse(used(7, AT - 10_000), [typed], SERVER)).toBe(true);
    expect(isOwnUse(used(7, AT + 2 * MINUTE), [typed], SERVER)).toBe(true);
    expect(isOwnUse(used(7, AT + 3 * MINUTE), [typed], SERVER)).toBe(false);
    expect(isOwnUse(used(7, AT - 3 * MINUTE), [typed], SERVER)).toBe(false);
  });

  it('an event without a subject or actor is nobody’s own', () => {
    expect(isOwnUse({ ...used(2, AT), subject: null, actor: null }, [fill], SERVER)).toBe(false);
  });

  it('keeps the list to the last 30 days and 200 entries', () => {
    const old = { ...fill, at: AT - 31 * 24 * 60 * MINUTE };
    expect(withOwnUse([old], fill)).toEqual([fill]);
    const many = Array.from({ length: 200 }, (_, i) => ({ ...fill, number: i + 1 }));
    const kept = withOwnUse(many, { ...fill, number: 999 });
    expect(kept).toHaveLength(200);
    expect(kept[0]?.number).toBe(2);
    expect(kept.at(-1)?.number).toBe(999);
  });
});
