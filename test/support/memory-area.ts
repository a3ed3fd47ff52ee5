import type { KeyValueArea } from '../../extension/src/vault/vault';

/** An in-memory browser.storage area: values are cloned in and out, as the real one serialises them. */
export class MemoryArea implements KeyValueArea {
  data = new Map<string, unknown>();
  async get(key: string) {
    return this.data.has(key) ? { [key]: structuredClone(this.data.get(key)) } : {};
  }
  async set(items: Record<string, unknown>) {
    for (const [k, v] of Object.entries(items)) this.data.set(k, structuredClone(v));
  }
  async remove(key: string) {
    this.data.delete(key);
  }
  /** Everything stored, as text: what a copy of the browser profile would hold. */
  dump() {
    return JSON.stringify([...this.data]);
  }
}
