/** The in-memory per-address request budget behind the provider's limit (server/http/rate-limit.ts). */
import { describe, expect, it } from 'vitest';
import { RequestBudget } from '../../server/http/rate-limit';

describe('RequestBudget', () => {
  it('lets `limit` requests through per window, then says how long until the window ends', () => {
    const budget = new RequestBudget(3, 60_000);
    const t0 = 1_000_000;
    expect([
      budget.take('192.0.2.1', t0),
      budget.take('192.0.2.1', t0 + 1),
      budget.take('192.0.2.1', t0 + 2),
    ]).toEqual([0, 0, 0]);
    expect(budget.take('192.0.2.1', t0 + 10_000)).toBe(50_000);
    // Another address has a budget of its own.
    expect(budget.take('192.0.2.2', t0 + 10_000)).toBe(0);
    // A new window starts once the old one is over.
    expect(budget.take('192.0.2.1', t0 + 60_000)).toBe(0);
  });

  it('counts an IPv6 client by its /64, so rotating through its own network gains nothing', () => {
    const budget = new RequestBudget(2, 60_000);
    expect(budget.take('2001:db8:1:2::1', 0)).toBe(0);
    expect(budget.take('2001:db8:1:2:ffff::9', 0)).toBe(0);
    expect(budget.take('2001:db8:1:2:abcd::1', 0)).toBeGreaterThan(0);
    expect(budget.take('2001:db8:1:3::1', 0)).toBe(0);
  });

  it('forgets the least recently seen client first when full', () => {
    const budget = new RequestBudget(1, 60_000, 2);
    expect(budget.take('192.0.2.1', 0)).toBe(0);
    expect(budget.take('192.0.2.2', 0)).toBe(0);
    expect(budget.take('192.0.2.3', 0)).toBe(0);
    // .1 was forgotten to make room; .3 is still counted.
    expect(budget.take('192.0.2.1', 1)).toBe(0);
    expect(budget.take('192.0.2.3', 1)).toBeGreaterThan(0);
  });
});
