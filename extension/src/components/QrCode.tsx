import { useMemo } from 'preact/hooks';
import { create } from 'qrcode';

const QUIET_ZONE = 4;

/**
 * The QR code as SVG rectangles built by Preact: no canvas data URL and no innerHTML, so the
 * otpauth URI (it holds the secret) is never parsed as markup. Each run of dark modules in a row is
 * one rect, which keeps the DOM small.
 */
export function QrCode({ text, label }: { text: string; label: string }) {
  const { size, runs } = useMemo(() => {
    const { modules } = create(text, { errorCorrectionLevel: 'M' });
    const found: { x: number; y: number; width: number }[] = [];
    for (let y = 0; y < modules.size; y++) {
      let start = -1;
      for (let x = 0; x <= modules.size; x++) {
        const dark = x < modules.size && modules.get(y, x);
        if (dark && start < 0) start = x;
        if (!dark && start >= 0) {
          found.push({ x: start, y, width: x - start });
          start = -1;
        }
      }
    }
    return { size: modules.size, runs: found };
  }, [text]);
  const full = size + 2 * QUIET_ZONE;
  return (
    <svg
      class="qr"
      viewBox={`0 0 ${full} ${full}`}
      role="img"
      aria-label={label}
      shape-rendering="crispEdges"
      width="176"
      height="176"
    >
      <rect width={full} height={full} fill="#fff" />
      {runs.map(({ x, y, width }) => (
        <rect key={`${x},${y}`} x={x + QUIET_ZONE} y={y + QUIET_ZONE} width={width} height={1} fill="#000" />
      ))}
    </svg>
  );
}
