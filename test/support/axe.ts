/**
 * The project's accessibility check: axe-core run in a page the e2e tests opened, in Chromium or
 * Firefox (test/support/driver.ts). Serious and critical violations fail; axe's experimental
 * `label-content-name-mismatch` (WCAG 2.5.3, Label in Name: a control's accessible name contains its
 * visible text) is switched on, since axe leaves it off by default.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { UiPage } from './driver';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface Violation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * Runs axe on the document and hands back its serious and critical violations as JSON text, so both
 * protocols return the same plain string.
 */
const RUN_AXE = `axe.run(document, {
  resultTypes: ['violations'],
  rules: { 'label-content-name-mismatch': { enabled: true } },
}).then((results) => JSON.stringify(results.violations
  .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
  .map((violation) => ({
    id: violation.id,
    impact: violation.impact ?? null,
    help: violation.help,
    targets: violation.nodes.map((node) => JSON.stringify(node.target)),
  }))))`;

/** The serious and critical violations on the page as it is now (none expected). */
export async function accessibilityViolations(page: Pick<UiPage, 'evaluateScript'>): Promise<Violation[]> {
  // Through the driver's protocol: the extension page's CSP would refuse the script as a <script> or eval.
  await page.evaluateScript(`${AXE_SOURCE};\nundefined`);
  return JSON.parse((await page.evaluateScript(RUN_AXE)) as string) as Violation[];
}
