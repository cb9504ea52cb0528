import type { TensorSpec } from '../services/common/tensor.ts';

/** 1234567 -> "1.23 M". */
export function formatCount(value: number): string {
  const units = ['', ' k', ' M', ' G', ' T'];
  let v = value;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? String(v) : `${v.toPrecision(3)}${units[i]}`;
}

export function formatSpecs(specs: readonly TensorSpec[]): string {
  return specs
    .map((s) => {
      const dims = s.shape.map((d, i) => (d >= 0 ? String(d) : (s.dimNames?.[i] ?? '-1')));
      return `${s.name} ${s.datatype}[${dims.join(',')}]`;
    })
    .join(', ');
}

export function formatMs(ms: number): string {
  return ms < 10 ? ms.toFixed(3) : ms < 100 ? ms.toFixed(2) : ms.toFixed(1);
}
