/**
 * What every browser's popup must be in each state a user meets: within the 800×600 px both Chromium
 * and Firefox give a popup (its body scrolling what does not fit), with no serious accessibility
 * violation (test/support/axe.ts). Driver-neutral (test/support/driver.ts).
 */
import { expect } from 'vitest';
import { accessibilityViolations } from './axe';
import type { UiPage } from './driver';

/** The largest popup Chromium and Firefox open. */
export const POPUP_MAX = { width: 800, height: 600 };
/** A tab larger than any popup, so the popup page takes its natural size. */
export const ROOMY = { width: 800, height: 1400 };

interface Size {
  html: { width: number; height: number };
  /**
   * How wide the document scrolls: content outside the body (which scrolls its own) widens it. Its
   * height is at least the roomy tab's, so the html box's height stands for the natural height.
   */
  scrollWidth: number;
  body: { width: number; height: number; scrolls: boolean };
}

const sizeOf = (page: UiPage): Promise<Size> =>
  page.evaluate(() => {
    const html = document.documentElement.getBoundingClientRect();
    const body = document.body.getBoundingClientRect();
    return {
      html: { width: html.width, height: html.height },
      scrollWidth: document.documentElement.scrollWidth,
      body: {
        width: body.width,
        height: body.height,
        scrolls: getComputedStyle(document.body).overflowY === 'auto',
      },
    };
  });

/** The popup in `state` fits 800×600 and has no serious accessibility violation. */
export async function checkPopup(page: UiPage, state: string): Promise<void> {
  const size = await sizeOf(page);
  expect(size.html.width, `${state}: document width`).toBeLessThanOrEqual(POPUP_MAX.width);
  expect(size.html.height, `${state}: document height`).toBeLessThanOrEqual(POPUP_MAX.height);
  expect(size.scrollWidth, `${state}: document scroll width`).toBeLessThanOrEqual(POPUP_MAX.width);
  expect(size.body.height, `${state}: body height`).toBeLessThanOrEqual(POPUP_MAX.height);
  expect(size.body.scrolls, `${state}: the body scrolls what does not fit`).toBe(true);
  expect(await accessibilityViolations(page), state).toEqual([]);
}
