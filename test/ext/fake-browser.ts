/**
 * An in-memory stand-in for webextension-polyfill, for the component and unit tests only (mocked
 * with vi.mock). i18n answers from the real English catalogue, so tests read the real UI text.
 */
import { vi } from 'vitest';
import en from '../../extension/_locales/en/messages.json';

type Listener = (...args: never[]) => unknown;

function fakeEvent() {
  const listeners = new Set<Listener>();
  return {
    listeners,
    addListener: (listener: Listener) => void listeners.add(listener),
    removeListener: (listener: Listener) => void listeners.delete(listener),
    hasListener: (listener: Listener) => listeners.has(listener),
    /** Calls every listener, as the browser would, and returns what they returned. */
    emit: (...args: unknown[]) =>
      [...listeners].map((listener) => (listener as (...a: unknown[]) => unknown)(...args)),
  };
}

function fakeArea() {
  const data = new Map<string, unknown>();
  const onChanged = fakeEvent();
  const pick = (keys?: string | string[] | null) => {
    const wanted = keys == null ? [...data.keys()] : typeof keys === 'string' ? [keys] : keys;
    return Object.fromEntries(
      wanted.filter((key) => data.has(key)).map((key) => [key, structuredClone(data.get(key))]),
    );
  };
  return {
    data,
    onChanged,
    get: vi.fn(async (keys?: string | string[] | null) => pick(keys)),
    set: vi.fn(async (items: Record<string, unknown>) => {
      const changes: Record<string, { oldValue?: unknown; newValue?: unknown }> = {};
      for (const [key, value] of Object.entries(items)) {
        changes[key] = { oldValue: data.get(key), newValue: value };
        data.set(key, structuredClone(value));
      }
      onChanged.emit(changes);
    }),
    remove: vi.fn(async (keys: string | string[]) => {
      const changes: Record<string, { oldValue?: unknown }> = {};
      for (const key of typeof keys === 'string' ? [keys] : keys) {
        if (data.has(key)) changes[key] = { oldValue: data.get(key) };
        data.delete(key);
      }
      onChanged.emit(changes);
    }),
  };
}

type Catalogue = Record<string, { message: string; placeholders?: Record<string, { content: string }> }>;

/** chrome.i18n.getMessage's substitution rules: $NAME$ -> placeholder content -> $n -> argument n. */
export function getMessage(key: string, substitutions: string[] = []): string {
  const entry = (en as Catalogue)[key];
  if (!entry) return '';
  return entry.message
    .replace(/\$(\w+)\$/g, (_, name: string) => entry.placeholders?.[name.toLowerCase()]?.content ?? '')
    .replace(/\$(\d)/g, (_, n: string) => substitutions[Number(n) - 1] ?? '');
}

export const EXTENSION_ORIGIN = 'chrome-extension://sparekeytestid';

function createFakeBrowser() {
  return {
    i18n: { getMessage: vi.fn(getMessage), getUILanguage: () => 'en-US' },
    storage: {
      local: fakeArea(),
      session: fakeArea(),
      managed: fakeArea(),
      onChanged: fakeEvent(),
    },
    permissions: {
      granted: new Set<string>(),
      contains: vi.fn(async ({ origins = [] }: { origins?: string[] }) =>
        origins.every((origin) => fake.permissions.granted.has(origin)),
      ),
      request: vi.fn(async ({ origins = [] }: { origins?: string[] }) => {
        for (const origin of origins) fake.permissions.granted.add(origin);
        return true;
      }),
      onAdded: fakeEvent(),
      onRemoved: fakeEvent(),
    },
    runtime: {
      id: 'sparekeytestid',
      getManifest: () => ({ manifest_version: 3, name: 'SpareKey', version: '0.1.0' }),
      getURL: (path: string) => `${EXTENSION_ORIGIN}/${path.replace(/^\//, '')}`,
      sendMessage: vi.fn(async (_message: unknown): Promise<unknown> => undefined),
      onMessage: fakeEvent(),
      onInstalled: fakeEvent(),
      onStartup: fakeEvent(),
    },
    action: {
      openPopup: vi.fn(async () => undefined),
      setBadgeText: vi.fn(async (_details: { text: string }) => undefined),
      setBadgeBackgroundColor: vi.fn(async (_details: { color: string }) => undefined),
    },
    alarms: {
      created: new Map<string, { when?: number; periodInMinutes?: number; delayInMinutes?: number }>(),
      create: vi.fn(async (name: string, info: { when?: number; periodInMinutes?: number }) => {
        fake.alarms.created.set(name, info);
      }),
      get: vi.fn(async (name: string) => (fake.alarms.created.has(name) ? { name } : undefined)),
      clear: vi.fn(async (name: string) => fake.alarms.created.delete(name)),
      onAlarm: fakeEvent(),
    },
    commands: {
      getAll: vi.fn(async () => [
        { name: 'fill-backup-code', shortcut: 'Alt+Shift+B', description: 'Fill a backup code' },
      ]),
      onCommand: fakeEvent(),
    },
    scripting: {
      registered: [] as { id: string; matches?: string[] }[],
      getRegisteredContentScripts: vi.fn(async ({ ids }: { ids: string[] }) =>
        fake.scripting.registered.filter((script) => ids.includes(script.id)),
      ),
      registerContentScripts: vi.fn(async (scripts: { id: string; matches?: string[] }[]) => {
        fake.scripting.registered.push(...scripts);
      }),
      updateContentScripts: vi.fn(async (scripts: { id: string; matches?: string[] }[]) => {
        fake.scripting.registered = fake.scripting.registered.map(
          (script) => scripts.find((s) => s.id === script.id) ?? script,
        );
      }),
      unregisterContentScripts: vi.fn(async ({ ids }: { ids: string[] }) => {
        fake.scripting.registered = fake.scripting.registered.filter((script) => !ids.includes(script.id));
      }),
    },
    notifications: { create: vi.fn(async (_id: string, _options: Record<string, unknown>) => 'id') },
    tabs: {
      create: vi.fn(async (_options: { url: string }) => ({ id: 1 })),
      /** The active tab the popup sees; tests set it. */
      active: undefined as { id: number; url?: string } | undefined,
      query: vi.fn(async (_query: Record<string, unknown>) => (fake.tabs.active ? [fake.tabs.active] : [])),
      sendMessage: vi.fn(
        async (_tabId: number, _message: unknown, _options?: { frameId?: number }): Promise<unknown> =>
          undefined,
      ),
    },
    offscreen: {
      createDocument: vi.fn(async (_parameters: Record<string, unknown>) => undefined),
      closeDocument: vi.fn(async () => undefined),
    },
  };
}

export let fake = createFakeBrowser();

/** A fresh browser for each test: empty storage, no permissions, new mocks. */
export function resetFakeBrowser(): void {
  fake = createFakeBrowser();
}

/** What vi.mock('webextension-polyfill') returns: a default export that always points at the current fake. */
export const polyfillModule = {
  default: new Proxy({}, { get: (_target, prop) => fake[prop as keyof typeof fake] }),
};
