/** The enrolment QR code, drawn as inline SVG: no image request, nothing for the CSP to allow. */
import QRCode from 'qrcode';

export function qrSvg(otpauthUri: string): Promise<string> {
  // Quiet zone of 2 modules keeps scanners happy; colours stay dark-on-light even in dark mode.
  return QRCode.toString(otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}
