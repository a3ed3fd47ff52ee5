// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { type CodeField, findCodeField } from '../../extension/src/autofill/detect';
import { fillCodeField } from '../../extension/src/autofill/fill';
import { closePages, openFixture, page } from '../support/pages';

const CODE = '7K3QX-M2D9P';

/** Records every event a script-driven page would listen for, with the value it saw at that moment. */
function record(inputs: HTMLInputElement[]): string[] {
  const log: string[] = [];
  for (const type of ['focus', 'keydown', 'input', 'keyup', 'change']) {
    for (const input of inputs) {
      input.addEventListener(type, (event) => {
        const detail = event.type.startsWith('key') ? `:${(event as KeyboardEvent).key}` : '';
        log.push(`${event.type}${detail}=${input.value}`);
      });
    }
  }
  return log;
}

afterEach(closePages);

describe('filling a single field', () => {
  it('types the code into our /login backup-code field with the events a keyboard makes', () => {
    const doc = openFixture('login-mfa.html');
    const field = findCodeField(doc) as CodeField & { kind: 'single' };
    field.input.blur();
    const log = record([field.input]);

    expect(fillCodeField(field, CODE)).toBe(true);
    expect(field.input.value).toBe(CODE);
    expect(doc.activeElement).toBe(field.input);
    expect(log.slice(0, 5)).toEqual(['focus=', 'keydown:7=', 'input=7', 'keyup:7=7', 'keydown:K=7']);
    expect(log.filter((e) => e.startsWith('input'))).toHaveLength(CODE.length);
    expect(log.at(-1)).toBe(`change=${CODE}`);
  });

  it('dispatches focus even when focus cannot move (a background window)', () => {
    const doc = page('<label for="c">Backup code</label><input id="c" autocomplete="one-time-code">');
    const input = doc.getElementById('c') as HTMLInputElement;
    input.focus = () => undefined;
    const log = record([input]);
    fillCodeField({ kind: 'single', input }, CODE);
    expect(log[0]).toBe('focus=');
  });

  it('leaves out the dash where the field only takes ten symbols', () => {
    const doc = page('<input id="c" maxlength="10">');
    const input = doc.getElementById('c') as HTMLInputElement;
    expect(fillCodeField({ kind: 'single', input }, CODE)).toBe(true);
    expect(input.value).toBe('7K3QXM2D9P');
  });

  it('leaves out the dash where the field pattern refuses it', () => {
    const doc = page('<input id="c" pattern="[A-Z0-9]+">');
    const input = doc.getElementById('c') as HTMLInputElement;
    fillCodeField({ kind: 'single', input }, CODE);
    expect(input.value).toBe('7K3QXM2D9P');
  });

  it('is seen by a framework that tracks the value it last set (as React does)', () => {
    const doc = page('<input id="c">');
    const input = doc.getElementById('c') as HTMLInputElement;
    // React's value tracker: an own `value` property that remembers what the framework wrote.
    const proto = Object.getPrototypeOf(input);
    const native = Object.getOwnPropertyDescriptor(proto, 'value');
    let tracked = '';
    Object.defineProperty(input, 'value', {
      configurable: true,
      get: () => native?.get?.call(input),
      set: (v: string) => {
        tracked = v;
        native?.set?.call(input, v);
      },
    });
    const changes: string[] = [];
    input.addEventListener('input', () => {
      const current = native?.get?.call(input) as string;
      if (current !== tracked) {
        tracked = current;
        changes.push(current);
      }
    });

    fillCodeField({ kind: 'single', input }, CODE);
    expect(changes.at(-1)).toBe(CODE);
    expect(changes).toHaveLength(CODE.length);
  });

  it('reports failure when the page throws the value away', () => {
    const doc = page('<input id="c">');
    const input = doc.getElementById('c') as HTMLInputElement;
    input.addEventListener('input', () => {
      input.value = '';
    });
    expect(fillCodeField({ kind: 'single', input }, CODE)).toBe(false);
  });

  it('types nothing for something that is not a code', () => {
    const doc = page('<input id="c">');
    const input = doc.getElementById('c') as HTMLInputElement;
    const log = record([input]);
    expect(fillCodeField({ kind: 'single', input }, 'not-a-code')).toBe(false);
    expect(input.value).toBe('');
    expect(log).toEqual([]);
  });
});

describe('filling split boxes', () => {
  it('puts one symbol in each box, each with its own events', () => {
    const doc = openFixture('split-boxes.html');
    const field = findCodeField(doc) as CodeField & { kind: 'split' };
    const log = record(field.inputs);

    expect(fillCodeField(field, CODE)).toBe(true);
    expect(field.inputs.map((box) => box.value).join('')).toBe('7K3QXM2D9P');
    const totp = [...doc.querySelectorAll<HTMLInputElement>('input[name^="otp-"]')];
    expect(totp.every((box) => box.value === '')).toBe(true);
    expect(log.filter((e) => e.startsWith('change'))).toHaveLength(10);
    expect(log.slice(0, 5)).toEqual(['focus=', 'keydown:7=', 'input=7', 'keyup:7=7', 'change=7']);
    expect(doc.activeElement).toBe(field.inputs[9]);
  });

  it('works with boxes that move focus forward on input', () => {
    const doc = openFixture('split-boxes.html');
    const field = findCodeField(doc) as CodeField & { kind: 'split' };
    field.inputs.forEach((box, i) => {
      box.addEventListener('input', () => field.inputs[i + 1]?.focus());
    });
    expect(fillCodeField(field, CODE.toLowerCase())).toBe(true);
    expect(field.inputs.map((box) => box.value).join('')).toBe('7K3QXM2D9P');
  });
});
