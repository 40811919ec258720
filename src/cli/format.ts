/** How figures read in the CLI's tables and findings. */

/** A ratio as a percentage; whole numbers at the ends, where a decimal would only be noise. */
export function percent(ratio: number | null): string {
  if (ratio === null) return '-';
  const digits = ratio > 0.995 || ratio < 0.005 || Number.isInteger(ratio * 100) ? 0 : 1;
  return `${(ratio * 100).toFixed(digits)}%`;
}

/** A duration given in seconds, in ms below a second. */
export function duration(seconds: number | null): string {
  if (seconds === null) return '-';
  const ms = seconds * 1000;
  if (ms >= 1000) return `${seconds.toFixed(2)} s`;
  return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}

/** A duration given in milliseconds. */
export function durationMs(ms: number | null): string {
  return duration(ms === null ? null : ms / 1000);
}

export function plural(count: number, noun: string): string {
  const shown = Number.isInteger(count) ? String(count) : count.toFixed(1);
  return `${shown} ${noun}${count === 1 ? '' : 's'}`;
}
