/**
 * A QR code of the page's URL as an SVG element, so a phone joins by pointing its camera
 * at the desktop's screen. qrcode-generator (MIT, no dependencies) encodes; error
 * correction M survives a screen's glare. Browser-safe.
 */
import qrcode from 'qrcode-generator';

/** An `<svg>` of `text`, scalable (it fills its box). */
export function qrSvg(text: string): string {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  return qr.createSvgTag({ cellSize: 4, margin: 2, scalable: true });
}
