/** How docs/scale.md writes sizes and times: one set of rules for every table and sentence of it. */
const MiB = 2 ** 20;
export const mib = (bytes: number) => (bytes / MiB).toFixed(1);
export const kib = (bytes: number) => (bytes / 1024).toFixed(0);
export const ms = (value: number) => (value >= 10_000 ? `${(value / 1000).toFixed(0)} s` : value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${value.toFixed(0)} ms`);
/** below 10 ms with a decimal: per-update shares of a short time */
export const fineMs = (value: number) => (value < 10 ? `${value.toFixed(1)} ms` : ms(value));
export const num = (value: number) => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));
