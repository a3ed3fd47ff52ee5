/**
 * One file out of a ZIP archive (stored or deflated), found through the central directory: enough to
 * read a packed extension's manifest.json without an unzip library.
 */
import { inflateRawSync } from 'node:zlib';

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_ENTRY = 0x02014b50;
const LOCAL_ENTRY = 0x04034b50;
const STORED = 0;
const DEFLATED = 8;
/** The end record is 22 bytes, followed by a comment of at most 65535. */
const MAX_END_SEARCH = 22 + 0xffff;

export class ZipFormatError extends Error {}

function endOfCentralDirectory(zip: Buffer): number {
  const lowest = Math.max(0, zip.length - MAX_END_SEARCH);
  for (let at = zip.length - 22; at >= lowest; at--) {
    if (zip.readUInt32LE(at) === END_OF_CENTRAL_DIRECTORY) return at;
  }
  throw new ZipFormatError('Not a ZIP archive.');
}

/** The bytes of the entry called `name`, or null when the archive has none. */
export function readZipEntry(zip: Buffer, name: string): Buffer | null {
  const end = endOfCentralDirectory(zip);
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  for (let index = 0; index < count; index++) {
    if (at + 46 > zip.length || zip.readUInt32LE(at) !== CENTRAL_ENTRY) {
      throw new ZipFormatError('The ZIP central directory is damaged.');
    }
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localOffset = zip.readUInt32LE(at + 42);
    const entryName = zip.toString('utf8', at + 46, at + 46 + nameLength);
    at += 46 + nameLength + extraLength + commentLength;
    if (entryName !== name) continue;
    if (localOffset + 30 > zip.length || zip.readUInt32LE(localOffset) !== LOCAL_ENTRY) {
      throw new ZipFormatError('The ZIP entry is damaged.');
    }
    const dataStart =
      localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const data = zip.subarray(dataStart, dataStart + compressedSize);
    if (method === STORED) return data;
    if (method === DEFLATED) return inflateRawSync(data);
    throw new ZipFormatError(`The ZIP entry ${name} uses compression method ${method}.`);
  }
  return null;
}
