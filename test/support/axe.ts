/**
 * The project's accessibility check: axe-core run in a page the e2e tests opened (Chromium, through
 * Playwright). Serious and critical violations fail; axe's experimental `label-content-name-mismatch`
 * (WCAG 2.5.3, Label in Name: a control's accessible name contains its visible text) is switched on,
 * since axe leaves it off by default.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface Violation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

interface AxeResults {
  violations: { id: string; impact?: string | null; help: string; nodes: { target: unknown[] }[] }[];
}

/** The serious and critical violations on the page as it is now (none expected). */
export async function accessibilityViolations(page: Page): Promise<Violation[]> {
  // Evaluated through the DevTools protocol, which an extension page's CSP does not govern.
  await page.evaluate(`${AXE_SOURCE};\nundefined`);
  const results = (await page.evaluate(() =>
    (globalThis as unknown as { axe: { run(context: Document, options: object): Promise<unknown> } }).axe.run(
      document,
      {
        resultTypes: ['violations'],
        rules: { 'label-content-name-mismatch': { enabled: true } },
      },
    ),
  )) as AxeResults;
  return results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => ({
      id: violation.id,
      impact: violation.impact ?? null,
      help: violation.help,
      targets: violation.nodes.map((node) => JSON.stringify(node.target)),
    }));
}
