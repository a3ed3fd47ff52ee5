/**
 * Pages for the autofill's DOM tests: each in its own happy-dom window (its own document, as a tab
 * would have), closed after each test by `closePages`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Window } from 'happy-dom';

const windows: Window[] = [];

/** A fixture from test/fixtures/autofill in its own window with its scripts running, as in a browser. */
export function openFixture(name: string): Document {
  const win = new Window({
    url: 'https://sparekey.example/login',
    settings: { enableJavaScriptEvaluation: true, suppressInsecureJavaScriptEnvironmentWarning: true },
  });
  windows.push(win);
  win.document.write(readFileSync(resolve(import.meta.dirname, '../fixtures/autofill', name), 'utf8'));
  return win.document as unknown as Document;
}

/** A page whose body is `html`, without scripts. */
export function page(html: string): Document {
  const win = new Window({ url: 'https://sparekey.example/login' });
  windows.push(win);
  win.document.write(`<!doctype html><html><body>${html}</body></html>`);
  return win.document as unknown as Document;
}

export async function closePages(): Promise<void> {
  await Promise.all(windows.splice(0).map((win) => win.happyDOM.close()));
}
