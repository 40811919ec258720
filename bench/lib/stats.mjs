/** Small statistics for benchmark samples: medians with their spread, never a single run. */

export function quantile(values, q) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
}

/**
 * CPU time of the main thread, where requests and poolscope run; V8's compiler and GC helper
 * threads come and go and made whole-process figures swing by tens of percent here. The whole
 * process where Node cannot tell threads apart.
 */
export const mainThreadCpuUsage = typeof process.threadCpuUsage === 'function'
  ? (previous) => process.threadCpuUsage(previous)
  : (previous) => process.cpuUsage(previous);

/** Median, interquartile range and extremes of a list of samples. */
export function summary(values) {
  return {
    median: quantile(values, 0.5),
    p25: quantile(values, 0.25),
    p75: quantile(values, 0.75),
    min: Math.min(...values),
    max: Math.max(...values),
    n: values.length,
  };
}

/** The modes in a different order each round, so drift in machine load hits every mode alike. */
export function rotated(items, round) {
  const shift = round % items.length;
  const order = [...items.slice(shift), ...items.slice(0, shift)];
  return round % 2 === 1 ? order.reverse() : order;
}

/** `--name=value` arguments of a benchmark script, with defaults; numbers stay numbers. */
export function parseArgs(defaults, argv = process.argv.slice(2)) {
  const options = { ...defaults };
  for (const argument of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(argument);
    if (match === null || !(camel(match[1]) in defaults)) throw new Error(`unknown argument ${argument}; known: ${Object.keys(defaults).join(', ')}`);
    const key = camel(match[1]);
    const raw = match[2] ?? 'true';
    options[key] = typeof defaults[key] === 'number' ? Number(raw) : typeof defaults[key] === 'boolean' ? raw !== 'false' : raw;
    if (typeof defaults[key] === 'number' && !Number.isFinite(options[key])) throw new Error(`--${match[1]} needs a number`);
  }
  return options;
}

function camel(name) {
  return name.replace(/-([a-z])/g, (_, letter) => letter.toUpperCase());
}

/** Prints a result: JSON for the runner, or the human lines the script made. */
export function emit(result, lines, json) {
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else process.stdout.write(`${lines.join('\n')}\n`);
}

export const fmt = {
  ns: (value) => `${Math.round(value).toLocaleString('en-US')} ns`,
  us: (value) => `${(value / 1000).toFixed(1)} µs`,
  ratio: (value) => `${value.toFixed(2)}x`,
  pct: (value) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)}%`,
  mib: (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`,
  kib: (bytes) => `${(bytes / 1024).toFixed(1)} KiB`,
  ms: (value) => `${value.toFixed(2)} ms`,
};
