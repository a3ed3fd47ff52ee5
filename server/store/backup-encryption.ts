/**
 * Backup archives encrypted with age (age-encryption.org/v1, through the `age-encryption` package): the
 * format Debian's `age`, rage and every other age tool read and write, so an operator can decrypt an
 * archive with the tool of their choice, and `store restore` reads an archive `age -r` encrypted.
 *
 * `store backup` encrypts to recipients (public keys, `age1…`); `store restore` decrypts with an
 * identity (the secret key, `AGE-SECRET-KEY-1…`) that need not live on the server. Both stream: age
 * seals the payload in 64 KiB chunks, each authenticated and the last one marked, so an archive of any
 * size is encrypted and decrypted in constant memory, and a truncated or altered one fails while read.
 *
 * The messages here never repeat what the operator gave: a value passed as a recipient may be an
 * identity pasted by mistake, and every line of an identity file is a secret.
 */
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { Decrypter, Encrypter } from 'age-encryption';

/** How every binary age file begins. */
const AGE_MAGIC = Buffer.from('age-encryption.org/v1\n', 'latin1');
/** How an ASCII-armored age file (`age -a`) begins. */
const ARMOR_MAGIC = Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----', 'latin1');

/** A recipient or identity the operator named that cannot be used, or that does not open the archive. */
export class BackupKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupKeyError';
  }
}

/** The identities a restore decrypts with, and the file they came from (for its messages). */
export interface BackupIdentities {
  file: string;
  identities: string[];
}

const RECIPIENT_FORM =
  'an age recipient (age1…, the public key age-keygen prints; age-keygen -y IDENTITY_FILE prints it again)';

/** Whether `value` is a recipient this package encrypts to (X25519 `age1…` and the post-quantum kinds). */
function isRecipient(value: string): boolean {
  try {
    new Encrypter().addRecipient(value);
    return true;
  } catch {
    return false;
  }
}

function isIdentity(value: string): boolean {
  try {
    new Decrypter().addIdentity(value);
    return true;
  } catch {
    return false;
  }
}

/** The lines of an age recipients or identity file that hold a key: empty lines and `#` comments skipped. */
function keyLines(text: string): Array<{ number: number; value: string }> {
  return text
    .split('\n')
    .map((line, index) => ({ number: index + 1, value: line.trim() }))
    .filter(({ value }) => value !== '' && !value.startsWith('#'));
}

async function readKeyFile(option: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new BackupKeyError(`${option} ${file}: cannot read it (${(error as NodeJS.ErrnoException).code})`);
  }
}

/**
 * The recipients of `--recipient` (each value) and `--recipient-file` (age's recipients-file format:
 * one per line, `#` comments), checked before anything is read or written.
 */
export async function recipientsFrom(values: string[], files: string[]): Promise<string[]> {
  const recipients: string[] = [];
  for (const [index, value] of values.entries()) {
    const which = values.length > 1 ? ` (value ${index + 1})` : '';
    if (value.trim().toUpperCase().startsWith('AGE-SECRET-KEY-')) {
      throw new BackupKeyError(
        `--recipient${which} is an age identity (a secret key), not a recipient: pass its public key (age-keygen -y IDENTITY_FILE prints it), and keep the identity off this host.`,
      );
    }
    if (!isRecipient(value.trim())) throw new BackupKeyError(`--recipient${which} is not ${RECIPIENT_FORM}.`);
    recipients.push(value.trim());
  }
  for (const file of files) {
    const lines = keyLines(await readKeyFile('--recipient-file', file));
    if (lines.length === 0) throw new BackupKeyError(`--recipient-file ${file} holds no recipient.`);
    for (const { number, value } of lines) {
      if (!isRecipient(value)) {
        throw new BackupKeyError(`--recipient-file ${file} line ${number} is not ${RECIPIENT_FORM}.`);
      }
      recipients.push(value);
    }
  }
  return recipients;
}

/** The identities of an age identity file (`age-keygen -o FILE`: `AGE-SECRET-KEY-1…` lines, `#` comments). */
export async function identitiesFrom(file: string): Promise<BackupIdentities> {
  const lines = keyLines(await readKeyFile('--identity-file', file));
  if (lines.length === 0) throw new BackupKeyError(`--identity-file ${file} holds no identity.`);
  for (const { number, value } of lines) {
    if (!isIdentity(value)) {
      throw new BackupKeyError(
        `--identity-file ${file} line ${number} is not an age identity (AGE-SECRET-KEY-1…, as age-keygen writes it).`,
      );
    }
  }
  return { file, identities: lines.map(({ value }) => value) };
}

/** Between Node's streams and the web streams the package reads and writes. */
const toWeb = (bytes: AsyncIterable<Buffer>) =>
  Readable.toWeb(Readable.from(bytes)) as ReadableStream<Uint8Array>;
const fromWeb = (stream: ReadableStream<Uint8Array>) =>
  Readable.fromWeb(stream as NodeReadableStream<Uint8Array>);

/** The archive's bytes encrypted to `recipients`, as a stream: what `age -r …` would write. */
export async function* encrypted(plain: AsyncIterable<Buffer>, recipients: string[]): AsyncGenerator<Buffer> {
  const encrypter = new Encrypter();
  for (const recipient of recipients) encrypter.addRecipient(recipient);
  yield* fromWeb(await encrypter.encrypt(toWeb(plain)));
}

async function firstBytes(path: string, length: number): Promise<Buffer> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new Error(`Cannot read ${path} (${error.code}).`);
  });
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * The archive's plain bytes: the file as it is, or decrypted with `key` when it is an age file. A key
 * missing or not matching is a BackupKeyError before any byte is returned.
 */
export async function archiveBytes(
  path: string,
  key: BackupIdentities | null,
): Promise<AsyncIterable<Buffer>> {
  const start = await firstBytes(path, ARMOR_MAGIC.length);
  if (start.equals(ARMOR_MAGIC)) {
    throw new BackupKeyError(
      `${path} is an ASCII-armored age file (age -a): store restore reads the binary form, which store backup writes.`,
    );
  }
  if (!start.subarray(0, AGE_MAGIC.length).equals(AGE_MAGIC)) return createReadStream(path);
  if (!key) {
    throw new BackupKeyError(
      `${path} is encrypted with age: pass --identity-file FILE with the identity (AGE-SECRET-KEY-1…) of a recipient it was encrypted to.`,
    );
  }
  const decrypter = new Decrypter();
  for (const identity of key.identities) decrypter.addIdentity(identity);
  try {
    return fromWeb(await decrypter.decrypt(toWeb(createReadStream(path))));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (/no identity matched/.test(reason)) {
      throw new BackupKeyError(
        `${path} was encrypted to other recipients: no identity in --identity-file ${key.file} opens it.`,
      );
    }
    throw new BackupKeyError(`${path} is a damaged age file (${reason}).`);
  }
}
