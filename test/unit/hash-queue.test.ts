/** The argon2id queue: its bound on concurrent hashes, and the admission that sheds sign-ins. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Admission, HashQueue, MAX_HOLD_MS } from '../../server/crypto/hash-queue';
import type { Hasher } from '../../server/crypto/hasher';

const tick = () => new Promise((done) => setImmediate(done));

/** A hasher whose every call waits until the test releases it, in order. */
function heldHasher() {
  const pending: (() => void)[] = [];
  const started: string[] = [];
  const hold = (label: string) =>
    new Promise<void>((done) => {
      started.push(label);
      pending.push(done);
    });
  const hasher: Hasher = {
    hashPassword: async (password) => {
      await hold(password);
      return `hash:${password}`;
    },
    verifyPassword: async (_hash, password) => {
      await hold(password);
      return false;
    },
    codeDigest: async (code) => {
      await hold(code);
      return Buffer.from(code);
    },
  };
  const releaseNext = () => pending.shift()?.();
  /** Lets the next `count` calls finish one after another, each handing its slot on before the next. */
  const releaseInTurn = async (count: number) => {
    for (let i = 0; i < count; i++) {
      releaseNext();
      await tick();
    }
  };
  return { hasher, started, releaseNext, releaseInTurn };
}

/** Admits one sign-in attempt (the queue must have room), for hashes asked for as a sign-in's. */
function admitted(queue: HashQueue) {
  const admission = queue.admit();
  if (!admission.admitted) throw new Error('the queue refused the attempt');
  return admission;
}

/** A hasher that takes `ms` of real time per call. */
function slowHasher(ms: number): Hasher {
  const wait = () => new Promise((done) => setTimeout(done, ms));
  return {
    hashPassword: async () => {
      await wait();
      return 'h';
    },
    verifyPassword: async () => {
      await wait();
      return false;
    },
    codeDigest: async () => {
      await wait();
      return Buffer.alloc(32);
    },
  };
}

describe('HashQueue', () => {
  it('runs at most `concurrency` hashes at once, the rest in arrival order', async () => {
    const held = heldHasher();
    const queue = new HashQueue(held.hasher, { concurrency: 2 });
    const results = ['a', 'b', 'c', 'd', 'e'].map((p) => queue.signInHasher.hashPassword(p));
    await tick();
    expect(held.started).toEqual(['a', 'b']);
    expect([queue.running, queue.waiting]).toEqual([2, 3]);
    held.releaseNext();
    await tick();
    expect(held.started).toEqual(['a', 'b', 'c']);
    expect([queue.running, queue.waiting]).toEqual([2, 2]);
    await held.releaseInTurn(4);
    expect(await Promise.all(results)).toEqual(['hash:a', 'hash:b', 'hash:c', 'hash:d', 'hash:e']);
    expect([queue.running, queue.waiting]).toEqual([0, 0]);
  });

  it('frees the slot of a hash that throws', async () => {
    const failing: Hasher = {
      hashPassword: async () => {
        throw new Error('boom');
      },
      verifyPassword: async () => true,
      codeDigest: async () => Buffer.alloc(0),
    };
    const queue = new HashQueue(failing, { concurrency: 1 });
    await expect(queue.hasher.hashPassword('x')).rejects.toThrow('boom');
    expect(await queue.hasher.verifyPassword('h', 'p')).toBe(true);
    expect(queue.running).toBe(0);
  });

  it('admits sign-ins while their hashes would finish within maxWaitMs, then sheds with Retry-After', async () => {
    let shed = 0;
    // Both slots stay in use after a shed here (the free core has a test of its own below).
    const queue = new HashQueue(slowHasher(40), {
      concurrency: 2,
      maxWaitMs: 200,
      onShed: () => shed++,
      freeCoreAfterShedMs: 0,
    });
    // Time a few hashes so the moving average knows the cost (about 40 ms).
    await Promise.all([1, 2, 3, 4].map(() => queue.hasher.hashPassword('x')));
    expect(queue.averageMs).toBeGreaterThanOrEqual(35);
    expect(queue.averageMs).toBeLessThan(400);

    // Each admitted attempt is work ahead of the next; at 2 slots, about 200/40*2 = 10 fit in 200 ms.
    const admitted = [];
    let refusal = queue.admit();
    while (refusal.admitted) {
      admitted.push(refusal);
      refusal = queue.admit();
    }
    expect(admitted.length).toBeGreaterThanOrEqual(1);
    expect(admitted.length).toBeLessThanOrEqual(11);
    expect(refusal).toMatchObject({ admitted: false });
    expect(refusal.admitted ? 0 : refusal.retryAfterS).toBeGreaterThanOrEqual(1);
    expect(shed).toBe(1);
    // Still refused while the admitted ones are in flight.
    expect(queue.admit().admitted).toBe(false);
    expect(shed).toBe(2);

    // As they are answered, room comes back; a release counts once however often it is called.
    const first = admitted[0];
    if (first?.admitted) {
      first.release();
      first.release();
    }
    const again = queue.admit();
    expect(again.admitted).toBe(true);
    expect(queue.admit().admitted).toBe(false);
    for (const a of [...admitted, again]) if (a.admitted) a.release();
    expect(queue.admit().admitted).toBe(true);
  });

  it('leaves one core free of hashing while it sheds, and takes it back once shedding stops', async () => {
    const held = heldHasher();
    // Room for one attempt (first guess 50 ms a hash over 2 slots: 25 ms), not for a second.
    const queue = new HashQueue(held.hasher, { concurrency: 2, maxWaitMs: 30, freeCoreAfterShedMs: 100 });
    expect(queue.slots).toBe(2);
    // One attempt let in: the next is shed.
    admitted(queue);
    expect(queue.admit().admitted).toBe(false);
    expect(queue.slots).toBe(1);
    const results = ['a', 'b', 'c', 'd'].map((p) => queue.signInHasher.hashPassword(p));
    await tick();
    expect(held.started).toEqual(['a']);
    held.releaseNext();
    await tick();
    expect(held.started).toEqual(['a', 'b']);

    await new Promise((done) => setTimeout(done, 120));
    expect(queue.slots).toBe(2);
    // The next event hands the second slot to the one first in line, in order.
    const e = queue.signInHasher.hashPassword('e');
    await tick();
    expect(held.started).toEqual(['a', 'b', 'c']);
    expect([queue.running, queue.waiting]).toEqual([2, 2]);
    await held.releaseInTurn(4);
    await Promise.all([...results, e]);
    expect(held.started).toEqual(['a', 'b', 'c', 'd', 'e']);

    // One core is never zero: a queue of one keeps hashing while it sheds.
    const single = new HashQueue(heldHasher().hasher, { concurrency: 1, maxWaitMs: 0 });
    expect(single.admit().admitted).toBe(false);
    expect(single.slots).toBe(1);
  });

  it('counts the sign-in hashes queued as work ahead', async () => {
    const held = heldHasher();
    const queue = new HashQueue(held.hasher, { concurrency: 1, maxWaitMs: 500 });
    const attempt = admitted(queue);
    // No timing yet: the first guess is 50 ms a hash, so 10 hashes ahead is 550 ms > 500.
    const hashes = Array.from({ length: 10 }, (_, i) =>
      queue.signInHasher.codeDigest(`c${i}`, Buffer.alloc(16)),
    );
    await tick();
    expect(queue.estimatedWaitMs()).toBe(550);
    expect(queue.admit()).toEqual({ admitted: false, retryAfterS: 1 });
    await held.releaseInTurn(10);
    await Promise.all(hashes);
    attempt.release();
  });

  it('sheds while the call first in line has waited longer than maxWaitMs, whatever the estimate says', async () => {
    const held = heldHasher();
    // A generous estimate (1 ms a hash) that a starved machine would make wrong.
    const queue = new HashQueue(held.hasher, { concurrency: 1, maxWaitMs: 100 });
    const attempt = admitted(queue);
    const first = queue.signInHasher.hashPassword('first');
    await tick();
    held.releaseNext();
    await first;
    attempt.release();
    const next = admitted(queue);
    const stuck = [queue.signInHasher.hashPassword('a'), queue.signInHasher.hashPassword('b')];
    // Answered as far as admission goes: only its hash waiting in line is left to count.
    next.release();
    await tick();
    expect(queue.waiting).toBe(1);
    expect(queue.estimatedWaitMs()).toBeLessThan(100);
    await new Promise((done) => setTimeout(done, 150));
    expect(queue.estimatedWaitMs()).toBeLessThan(100);
    expect(queue.oldestWaitMs()).toBeGreaterThan(100);
    expect(queue.admit()).toMatchObject({ admitted: false });
    held.releaseNext();
    await tick();
    held.releaseNext();
    await Promise.all(stuck);
    expect(queue.oldestWaitMs()).toBe(0);
  });

  it('sheds while an attempt let in has gone unanswered longer than maxWaitMs, until it is answered', async () => {
    const queue = new HashQueue(slowHasher(1), { concurrency: 4, maxWaitMs: 100 });
    const slow = queue.admit();
    expect(slow.admitted).toBe(true);
    // Nothing is hashing, the estimate is tiny; but the attempt let in has not been answered.
    await new Promise((done) => setTimeout(done, 150));
    expect(queue.estimatedWaitMs()).toBeLessThan(100);
    expect(queue.admit()).toMatchObject({ admitted: false });
    if (slow.admitted) slow.release();
    expect(queue.admit().admitted).toBe(true);
  });
});

describe('HashQueue: a client back before its Retry-After', () => {
  const A = '198.51.100.1';
  const B = '198.51.100.2';
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Whether a held refusal has been answered yet. */
  function answered(admission: Admission) {
    const state = { done: false };
    if (!admission.admitted) void admission.held?.then(() => (state.done = true));
    return state;
  }

  it('is refused again, answered only once the time it was given has come; others are answered at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
    const shed: boolean[] = [];
    // maxWaitMs 0: every attempt is shed, with Retry-After 1 (the first guess, 50 ms, rounds up).
    const queue = new HashQueue(heldHasher().hasher, {
      concurrency: 1,
      maxWaitMs: 0,
      onShed: (h) => shed.push(h),
    });

    const first = queue.admit(A);
    expect(first).toEqual({ admitted: false, retryAfterS: 1 });
    expect(queue.admit(B)).toEqual({ admitted: false, retryAfterS: 1 });
    // A ignores Retry-After and asks again 400 ms later: held until 1 s after its first answer.
    await vi.advanceTimersByTimeAsync(400);
    const early = queue.admit(A);
    expect(early).toMatchObject({ admitted: false, retryAfterS: 1 });
    expect(queue.held).toBe(1);
    const earlyState = answered(early);
    await vi.advanceTimersByTimeAsync(599);
    expect(earlyState.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(earlyState.done).toBe(true);
    expect(queue.held).toBe(0);
    // Its Retry-After counts from that answer: back 1 s later, it is on time and answered at once.
    await vi.advanceTimersByTimeAsync(1000);
    expect(queue.admit(A)).toEqual({ admitted: false, retryAfterS: 1 });
    // An attempt without an address (no socket) is never held.
    expect(queue.admit(null)).toEqual({ admitted: false, retryAfterS: 1 });
    expect(queue.admit(null)).toEqual({ admitted: false, retryAfterS: 1 });
    expect(shed).toEqual([false, false, true, false, false, false]);
  });

  it('holds each of many connections from one address no longer than its own Retry-After', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
    const queue = new HashQueue(heldHasher().hasher, { concurrency: 1, maxWaitMs: 0 });
    expect(queue.admit(A).admitted).toBe(false);
    const burst = Array.from({ length: 20 }, () => answered(queue.admit(A)));
    expect(queue.held).toBe(20);
    await vi.advanceTimersByTimeAsync(1000);
    expect(burst.every((state) => state.done)).toBe(true);
    expect(queue.held).toBe(0);
  });

  it('is held at most MAX_HOLD_MS, however long the Retry-After grows while an attempt is stuck', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
    const queue = new HashQueue(heldHasher().hasher, { concurrency: 1, maxWaitMs: 100 });
    const stuck = queue.admit(B);
    expect(stuck.admitted).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    const first = queue.admit(A);
    expect(first).toEqual({ admitted: false, retryAfterS: 60 });
    const early = answered(queue.admit(A));
    await vi.advanceTimersByTimeAsync(MAX_HOLD_MS - 1);
    expect(early.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(early.done).toBe(true);
    if (stuck.admitted) stuck.release();
  });

  it('is let in at once when the queue has room: only refusals are held', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
    const queue = new HashQueue(heldHasher().hasher, { concurrency: 1, maxWaitMs: 120 });
    // The first guess is 50 ms a hash: two attempts fit within 120 ms, the third is shed.
    const admitted = [queue.admit(B), queue.admit(B)];
    expect(admitted.map((a) => a.admitted)).toEqual([true, true]);
    expect(queue.admit(A)).toEqual({ admitted: false, retryAfterS: 1 });
    for (const a of admitted) if (a.admitted) a.release();
    const back = queue.admit(A);
    expect(back.admitted).toBe(true);
    expect(queue.held).toBe(0);
  });

  it('holds at most maxHeld refusals at once; past that an early client is answered at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
    const queue = new HashQueue(heldHasher().hasher, { concurrency: 1, maxWaitMs: 0, maxHeld: 3 });
    expect(queue.admit(A).admitted).toBe(false);
    const burst = [queue.admit(A), queue.admit(B), queue.admit(A)];
    expect(burst.filter((a) => !a.admitted && a.held).length).toBe(2);
    expect(queue.admit(A)).toHaveProperty('held');
    expect(queue.held).toBe(3);
    expect(queue.admit(A)).toEqual({ admitted: false, retryAfterS: 1 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(queue.held).toBe(0);
    // Told 1 s ago, A is on time now; at once again, it is early and held.
    expect(queue.admit(A)).toEqual({ admitted: false, retryAfterS: 1 });
    expect(queue.admit(A)).toHaveProperty('held');
  });
});

describe('HashQueue: work that is not a sign-in (generating codes, changing a password)', () => {
  it('waits behind every sign-in hash and never holds more than all slots but one', async () => {
    const held = heldHasher();
    const queue = new HashQueue(held.hasher, { concurrency: 3 });
    expect(queue.otherSlots).toBe(2);
    const other = ['o1', 'o2', 'o3', 'o4'].map((p) => queue.hasher.hashPassword(p));
    await tick();
    // Two of three slots: the third stays for a sign-in.
    expect(held.started).toEqual(['o1', 'o2']);
    expect([queue.running, queue.waiting]).toEqual([2, 2]);
    const attempt = admitted(queue);
    const signIn = ['s1', 's2'].map((p) => queue.signInHasher.verifyPassword('h', p));
    await tick();
    expect(held.started).toEqual(['o1', 'o2', 's1']);
    // A slot freed by other work goes to the sign-in waiting, not to the other work first in line.
    held.releaseNext();
    await tick();
    expect(held.started).toEqual(['o1', 'o2', 's1', 's2']);
    await held.releaseInTurn(6);
    await Promise.all([...other, ...signIn]);
    expect(held.started).toEqual(['o1', 'o2', 's1', 's2', 'o3', 'o4']);
    expect([queue.running, queue.waiting]).toEqual([0, 0]);
    attempt.release();
  });

  it('gets the only slot of a queue of one when no sign-in waits for it', async () => {
    const held = heldHasher();
    const queue = new HashQueue(held.hasher, { concurrency: 1 });
    expect(queue.otherSlots).toBe(1);
    const other = queue.hasher.codeDigest('o1', Buffer.alloc(16));
    await tick();
    expect(held.started).toEqual(['o1']);
    held.releaseNext();
    await other;
    expect(queue.running).toBe(0);
  });

  it('is not counted as work ahead of a sign-in, however much of it waits and for how long', async () => {
    const held = heldHasher();
    const queue = new HashQueue(held.hasher, { concurrency: 2, maxWaitMs: 200 });
    // 20 users generating 21 hashes each at once.
    const other = Array.from({ length: 420 }, (_, i) => queue.hasher.codeDigest(`o${i}`, Buffer.alloc(16)));
    await tick();
    expect([queue.running, queue.waiting]).toEqual([1, 419]);
    await new Promise((done) => setTimeout(done, 250));
    // Only the hash it is running is ahead: (1 + 1) / 2 slots * 50 ms.
    expect(queue.estimatedWaitMs()).toBe(50);
    expect(queue.oldestWaitMs()).toBe(0);
    const attempt = admitted(queue);
    const signIn = queue.signInHasher.verifyPassword('h', 'sign-in');
    await tick();
    expect(held.started.at(-1)).toBe('sign-in');
    held.releaseNext();
    held.releaseNext();
    await signIn;
    attempt.release();
    await held.releaseInTurn(419);
    await Promise.all(other);
  });

  it('is told to come back later while sign-ins are being shed, and let start again once shedding stops', async () => {
    const queue = new HashQueue(heldHasher().hasher, {
      concurrency: 2,
      maxWaitMs: 30,
      freeCoreAfterShedMs: 100,
    });
    expect(queue.otherWorkRetryAfterS()).toBeNull();
    const attempt = admitted(queue);
    expect(queue.otherWorkRetryAfterS()).toBeNull();
    expect(queue.admit().admitted).toBe(false);
    expect(queue.otherWorkRetryAfterS()).toBe(1);
    attempt.release();
    await new Promise((done) => setTimeout(done, 120));
    expect(queue.otherWorkRetryAfterS()).toBeNull();
  });
});
