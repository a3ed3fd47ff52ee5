/**
 * Draws the toolbar icon (a white key on a blue rounded square) as PNG at build time, so the
 * repository holds no binary images and every size is sharp. Run by extension/build.ts only.
 */
import { deflateSync } from 'node:zlib';

const BLUE = [29, 78, 216] as const;
const WHITE = [255, 255, 255] as const;
const SUPERSAMPLE = 4;

function inRoundedSquare(x: number, y: number): boolean {
  const r = 0.22;
  const cx = Math.min(Math.max(x, r), 1 - r);
  const cy = Math.min(Math.max(y, r), 1 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}

function inKey(x: number, y: number): boolean {
  const ring = Math.hypot(x - 0.33, y - 0.5);
  if (ring <= 0.18 && ring >= 0.08) return true;
  if (x >= 0.49 && x <= 0.84 && y >= 0.455 && y <= 0.545) return true;
  if (x >= 0.68 && x <= 0.75 && y >= 0.545 && y <= 0.68) return true;
  return x >= 0.78 && x <= 0.84 && y >= 0.545 && y <= 0.64;
}

/** One RGBA pixel: coverage of square and key, averaged over a SUPERSAMPLE² grid for smooth edges. */
function pixel(px: number, py: number, size: number): [number, number, number, number] {
  let square = 0;
  let key = 0;
  for (let sy = 0; sy < SUPERSAMPLE; sy++) {
    for (let sx = 0; sx < SUPERSAMPLE; sx++) {
      const x = (px + (sx + 0.5) / SUPERSAMPLE) / size;
      const y = (py + (sy + 0.5) / SUPERSAMPLE) / size;
      if (inRoundedSquare(x, y)) {
        square++;
        if (inKey(x, y)) key++;
      }
    }
  }
  if (square === 0) return [0, 0, 0, 0];
  const k = key / square;
  const mix = (i: 0 | 1 | 2) => Math.round(BLUE[i] * (1 - k) + WHITE[i] * k);
  return [mix(0), mix(1), mix(2), Math.round((255 * square) / SUPERSAMPLE ** 2)];
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

export function iconPng(size: number): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
  const rows = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    const row = y * (size * 4 + 1);
    rows[row] = 0; // filter: none
    for (let x = 0; x < size; x++) rows.set(pixel(x, y, size), row + 1 + x * 4);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export const ICON_SIZES = [16, 32, 48, 128] as const;
