/**
 * An organisation's install, end to end, as docs/EXTENSION.md tells an admin to do it: the extension
 * packed with the organisation's key (`npm run extension:pack`), served by the real SpareKey server
 * from EXTENSION_DIR, and installed by machine policy alone (no --load-extension, no temporary
 * add-on) in Debian's Chromium and Firefox ESR, with the server's address preset by policy; then a
 * user signs in through the popup without typing the address and without a permission prompt.
 *
 * The policy files are machine-wide: both browsers' tests live in this one file so they run one after
 * the other, in the "policy" project that runs after every other test (vitest.config.ts), and each
 * file is put back as it was in afterAll, whatever happened.
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTarget, sourceManifest } from '../../extension/build';
import { type Manifest, packedManifest, SHIPPED } from '../../extension/manifests';
import { buildCrx3 } from '../../shared/crx';
import { message } from '../e2e/scenarios/appearance';
import { userWithCodes } from '../e2e/scenarios/users';
import { assertChromium, CHROMIUM_PATH } from '../support/chromium';
import { playwrightPage } from '../support/chromium-driver';
import { eventually, type UiPage, waitForText } from '../support/driver';
import {
  assertFirefox,
  type FirefoxBrowser,
  GECKO_ID,
  launchFirefox,
  openExtensionUrl,
  puppeteerPage,
} from '../support/firefox';
import {
  CHROMIUM_POLICY_FILE,
  FIREFOX_POLICY_FILE,
  type PolicyFile,
  writePolicyFile,
} from '../support/machine-policy';
import { freePort, type RunningServer, startServer } from '../support/server';
import { storedZip } from '../support/zip';

const ROOT = resolve(import.meta.dirname, '../..');
const USER_PASSWORD = 'policy users keep a password';

let work: string;
let packageDir: string;
let publicUrl: string;
let extensionId: string;
let server: RunningServer;

/** Runs the packer as an admin does and returns the id it printed. */
function pack(keyFile: string, outDir: string, url: string): string {
  const packed = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'extension/pack.ts', '--key', keyFile, '--out', outDir, '--public-url', url],
    { cwd: ROOT, encoding: 'utf8', timeout: 120_000 },
  );
  if (packed.status !== 0) throw new Error(`extension:pack failed:\n${packed.stdout}\n${packed.stderr}`);
  const id = /^Extension id: ([a-p]{32})$/m.exec(packed.stdout)?.[1];
  if (!id) throw new Error(`extension:pack printed no id:\n${packed.stdout}`);
  return id;
}

beforeAll(async () => {
  assertChromium();
  assertFirefox();
  work = await mkdtemp(join(tmpdir(), 'sparekey-policy-'));
  const keyFile = join(work, 'org-key.pem');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  // The address is packed into the build, so the server's port is chosen first.
  publicUrl = `http://127.0.0.1:${await freePort()}`;
  packageDir = join(work, 'package');
  extensionId = pack(keyFile, packageDir, publicUrl);
  server = await startServer({
    env: { PORT: new URL(publicUrl).port, PUBLIC_URL: publicUrl, EXTENSION_DIR: packageDir },
  });
  await enableBackupCodes();
}, 240_000);

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The next version: the last number of manifest.json's version plus one. */
function bumped(manifest: Manifest): Manifest {
  const parts = manifest.version.split('.').map(Number);
  parts[parts.length - 1] = (parts.at(-1) ?? 0) + 1;
  return { ...manifest, version: parts.join('.') };
}

/**
 * The Chromium build of `version`, packed as the packer packs it (same manifest for the same server,
 * signed with the same key) and put in place in EXTENSION_DIR.
 */
async function putNewerCrx(version: string): Promise<void> {
  const source = { ...(await sourceManifest()), version };
  const target = SHIPPED.find((candidate) => candidate.browser === 'chromium');
  if (!target) throw new Error('no Chromium target');
  await buildTarget(
    source,
    { ...target, zip: false },
    {
      outRoot: join(work, 'newer'),
      adjust: (manifest) => packedManifest(manifest, 'chromium', publicUrl),
    },
  );
  const dir = join(work, 'newer', target.name);
  const files: Record<string, Buffer> = {};
  for (const name of await readdir(dir, { recursive: true })) {
    const path = join(dir, name);
    if ((await stat(path)).isFile()) files[name] = await readFile(path);
  }
  const key = createPrivateKey(await readFile(join(work, 'org-key.pem')));
  await writeFile(join(packageDir, 'sparekey.crx.tmp'), buildCrx3(storedZip(files), key));
  await rename(join(packageDir, 'sparekey.crx.tmp'), join(packageDir, 'sparekey.crx'));
}

/**
 * The popup as a force-installed extension first shows it: the preset address is filled in (it may
 * arrive after the popup opened), Continue needs no prompt, and the user signs in with an authenticator.
 */
async function signInWithPreset(popup: UiPage, username: string): Promise<void> {
  const totp = await userWithCodes(server.url, server.adminPassword, username, USER_PASSWORD);
  await eventually(
    () => popup.inputValue(message('en', 'serverUrlLabel')),
    (value) => value === publicUrl,
    { timeoutMs: 30_000 },
  );
  await waitForText(popup, message('en', 'serverUrlManaged'));
  await popup.click('button', message('en', 'setupContinue'));
  await popup.fill(message('en', 'usernameLabel'), username);
  await popup.fill(message('en', 'passwordLabel'), USER_PASSWORD);
  await popup.click('button', message('en', 'signInButton'));
  // The next 30-s step's code: this step's was spent setting the user up.
  await popup.fill(message('en', 'totpLabel'), totp.generate({ timestamp: Date.now() + 30_000 }));
  await popup.click('button', message('en', 'verifyButton'));
  await waitForText(popup, message('en', 'codesLeft', 6, 6), 30_000);
}

async function enableBackupCodes(): Promise<void> {
  const admin = await fetch(`${server.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: server.adminPassword }),
  }).then((response) => response.json() as Promise<{ token: string }>);
  const policy = await fetch(`${server.url}/api/admin/policy`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${admin.token}` },
    body: JSON.stringify({
      mfaUsage: 'optional_per_user',
      backupCodes: { enabled: true, count: 6, warnWhenRemaining: 2 },
    }),
  });
  expect(policy.status).toBe(200);
}

/** Debian's Chromium on `profileDir`, with nothing loaded: what it installs comes from policy. */
function launchChromium(profileDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    headless: true,
    executablePath: CHROMIUM_PATH,
    viewport: { width: 380, height: 640 },
    // Playwright's defaults turn extensions and the updater's network off: the install needs both.
    ignoreDefaultArgs: [
      '--disable-extensions',
      '--disable-component-extensions-with-background-pages',
      '--disable-background-networking',
    ],
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'],
  });
}

describe('Chromium installs the extension by machine policy from the SpareKey server', () => {
  let policy: PolicyFile | undefined;
  let context: BrowserContext | undefined;
  let profileDir: string | undefined;

  afterAll(async () => {
    try {
      await context?.close();
    } finally {
      await policy?.restore();
      if (profileDir) await rm(profileDir, { recursive: true, force: true });
    }
  });

  test('force-installed with the id the packer printed, the preset address filled in, a user signs in', async () => {
    policy = await writePolicyFile(CHROMIUM_POLICY_FILE, {
      ExtensionInstallForcelist: [`${extensionId};${publicUrl}/extension/chromium/updates.xml`],
      '3rdparty': { extensions: { [extensionId]: { serverUrl: publicUrl } } },
      // Without it DevTools, and so Playwright, may not attach to a policy-installed extension's pages.
      DeveloperToolsAvailability: 1,
    });
    profileDir = await mkdtemp(join(tmpdir(), 'sparekey-chromium-policy-'));
    context = await launchChromium(profileDir);
    const worker =
      context.serviceWorkers().find((candidate) => candidate.url().startsWith('chrome-extension://')) ??
      (await context.waitForEvent('serviceworker', {
        predicate: (candidate) => candidate.url().startsWith('chrome-extension://'),
        timeout: 60_000,
      }));
    expect(new URL(worker.url()).host).toBe(extensionId);

    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`chrome-extension://${extensionId}/popup.html`);
    await signInWithPreset(playwrightPage(page), 'chromium-policy-user');
    const manifest = await page.evaluate(() =>
      (
        globalThis as unknown as { chrome: { runtime: { getManifest(): { update_url?: string } } } }
      ).chrome.runtime.getManifest(),
    );
    expect(manifest.update_url).toBe(`${publicUrl}/extension/chromium/updates.xml`);
    expect(pageErrors).toEqual([]);
  }, 240_000);

  test('a newer version put in place is installed at the next update check; the options page shows it', async () => {
    if (!context) throw new Error('Chromium did not start');
    const newer = bumped(await sourceManifest());
    await putNewerCrx(newer.version);
    const worker = context
      .serviceWorkers()
      .find((candidate) => candidate.url().startsWith(`chrome-extension://${extensionId}/`));
    if (!worker) throw new Error('the extension has no service worker');
    // What Chromium's periodic check does, asked for now.
    const check = await worker.evaluate(() =>
      (
        globalThis as unknown as {
          chrome: { runtime: { requestUpdateCheck(): Promise<{ status: string; version?: string }> } };
        }
      ).chrome.runtime.requestUpdateCheck(),
    );
    expect(check).toEqual({ status: 'update_available', version: newer.version });
    // Chromium downloads and unpacks the new version at once, and switches to it once the extension
    // is idle (no page open, its worker stopped), at the latest when it starts again: a restart here
    // stands for the time that passes for a user.
    await eventually(
      () => readdir(join(profileDir ?? '', 'Default', 'Extensions', extensionId)).catch(() => []),
      (versions) => versions.some((name) => name.startsWith(`${newer.version}_`)),
      { timeoutMs: 60_000, what: 'the new version unpacked' },
    );
    await context.close();
    context = await launchChromium(profileDir ?? '');
    const options = await context.newPage();
    await eventually(
      async () => {
        await options.goto(`chrome-extension://${extensionId}/options.html`).catch(() => undefined);
        return options
          .locator('footer')
          .textContent({ timeout: 5_000 })
          .catch(() => '');
      },
      (footer) => footer === message('en', 'extensionVersion', newer.version),
      { timeoutMs: 60_000, what: 'the options page showing the new version' },
    );
  }, 180_000);
});

describe('Firefox ESR installs the extension by enterprise policy from the SpareKey server', () => {
  let policy: PolicyFile | undefined;
  let firefox: FirefoxBrowser | undefined;

  afterAll(async () => {
    try {
      await firefox?.close();
    } finally {
      await policy?.restore();
    }
  });

  test('force-installed from the served .xpi, the preset address filled in, a user signs in', async () => {
    policy = await writePolicyFile(FIREFOX_POLICY_FILE, {
      policies: {
        ExtensionSettings: {
          [GECKO_ID]: {
            installation_mode: 'force_installed',
            install_url: `${publicUrl}/extension/firefox/sparekey.xpi`,
          },
        },
        // ESR and Developer Edition honour this; release Firefox needs the .xpi signed by Mozilla.
        Preferences: { 'xpinstall.signatures.required': { Value: false, Status: 'locked' } },
        '3rdparty': { Extensions: { [GECKO_ID]: { serverUrl: publicUrl } } },
      },
    });
    // A permission prompt would wait for a click nobody makes: the packed host permission must be enough.
    firefox = await launchFirefox(null, {
      viewport: { width: 380, height: 640 },
      prefs: { 'extensions.webextOptionalPermissionPrompts': true },
    });
    const page: Page = await firefox.browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    // The policy installs the add-on a few seconds after start-up: until then its pages do not exist.
    const deadline = Date.now() + 90_000;
    for (;;) {
      const opened = await openExtensionUrl(page, firefox.url('popup.html')).then(
        () => true,
        () => false,
      );
      if (opened) break;
      if (Date.now() > deadline) throw new Error('the policy did not install the add-on in 90 s');
      await page.goto('about:blank');
    }
    await signInWithPreset(puppeteerPage(page, firefox, true), 'firefox-policy-user');
    expect(pageErrors).toEqual([]);
  }, 240_000);
});
