/**
 * The extension's inline "Fill backup code #N" button on the server's sign-in page, driven in real
 * Chromium (test/e2e): read through the accessibility tree, clicked with the real mouse.
 */
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import type { FillButton } from './driver';

export type { FillButton };

/**
 * The inline button sits in a closed shadow root, out of reach of page scripts and of Playwright's
 * selectors. The browser's accessibility tree still shows it (a screen reader must), so the test
 * reads its label there and clicks the host element's box with the real mouse.
 */
export async function fillButton(page: Page): Promise<FillButton | null> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = (await cdp.send('Accessibility.getFullAXTree')) as {
      nodes: { role?: { value?: string }; name?: { value?: string } }[];
    };
    const button = nodes.find(
      (node) =>
        node.role?.value === 'button' &&
        /backup code|SpareKey|Kept codes/.test(String(node.name?.value ?? '')) &&
        node.name?.value !== 'Verify',
    );
    const box = await page.locator('sparekey-autofill').boundingBox();
    if (!button || !box) return null;
    return { name: String(button.name?.value), x: box.x + box.width / 2, y: box.y + box.height / 2 };
  } finally {
    await cdp.detach();
  }
}

export async function waitForFillButton(page: Page, name: string | RegExp): Promise<FillButton> {
  const matches = (found?: string) =>
    found !== undefined && (typeof name === 'string' ? found === name : name.test(found));
  await expect.poll(async () => matches((await fillButton(page))?.name), { timeout: 15_000 }).toBe(true);
  return (await fillButton(page)) as FillButton;
}

export async function clickFillButton(page: Page, name: string | RegExp): Promise<void> {
  const button = await waitForFillButton(page, name);
  await page.mouse.click(button.x, button.y);
}
