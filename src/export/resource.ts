import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { invalid } from '../config.js';

/** A resource's attributes: the labels of `target_info`, and the resource of OTLP exports. */
export type ResourceAttributes = Readonly<Record<string, string>>;

type Env = Readonly<Record<string, string | undefined>>;

/** Longest key or value OTEL_RESOURCE_ATTRIBUTES may hold, as OpenTelemetry's detector allows. */
const MAX_ATTRIBUTE_LENGTH = 255;

/**
 * poolscope's resource, as OpenTelemetry's `defaultResource()` merged with its environment
 * detector makes it: `telemetry.sdk.*`, then OTEL_RESOURCE_ATTRIBUTES; `service.name` from the
 * option or OTEL_SERVICE_NAME, else the one OTEL_RESOURCE_ATTRIBUTES names, else the app's
 * package name, else `unknown_service:<argv0>`.
 *
 * Built here rather than by `@opentelemetry/resources`: that package and what it loads hold
 * ~3 MiB of heap for the life of the app, and `/metrics` alone needs nothing else of
 * OpenTelemetry. With them loaded, `fetch()` cost ~10% more CPU per request than with nothing
 * subscribed, against ~2% without (bench/e2e-processes.mjs, BENCHMARKS.md): its GC marks what
 * is live, and in a small heap poolscope's share was most of it.
 */
export function resourceAttributes(serviceName: string | undefined, env: Env = process.env): ResourceAttributes {
  const attributes: Record<string, string> = {
    'service.name': process.argv0 === '' ? 'unknown_service' : `unknown_service:${process.argv0}`,
    'telemetry.sdk.language': 'nodejs',
    'telemetry.sdk.name': 'opentelemetry',
  };
  const sdkVersion = openTelemetryVersion();
  if (sdkVersion !== undefined) attributes['telemetry.sdk.version'] = sdkVersion;
  const fromEnv = attributesFromEnv(env.OTEL_RESOURCE_ATTRIBUTES);
  Object.assign(attributes, fromEnv);
  const name = serviceName ?? fromEnv?.['service.name'] ?? appPackageName();
  if (name !== undefined) attributes['service.name'] = name;
  return attributes;
}

/**
 * OTEL_RESOURCE_ATTRIBUTES: `key=value` pairs separated by commas, keys and values
 * percent-encoded. As the specification says, one bad pair discards them all; here with a warning.
 */
function attributesFromEnv(value: string | undefined): Record<string, string> | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const attributes: Record<string, string> = {};
  for (const pair of value.split(',')) {
    if (pair.trim() === '') continue;
    const parts = pair.split('=');
    const key = parts.length === 2 ? decoded(parts[0]!.trim()) : undefined;
    const text = parts.length === 2 ? decoded(parts[1]!.trim()) : undefined;
    if (key === undefined || text === undefined || key === '' || key.length > MAX_ATTRIBUTE_LENGTH || text.length > MAX_ATTRIBUTE_LENGTH) {
      invalid({ name: 'OTEL_RESOURCE_ATTRIBUTES', value },
        `key=value pairs separated by commas, percent-encoded, each key and value at most ${MAX_ATTRIBUTE_LENGTH} characters`, 'none of them');
      return undefined;
    }
    attributes[key] = text;
  }
  return attributes;
}

function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * The version of the OpenTelemetry SDK poolscope would load, as `telemetry.sdk.version` says
 * it: that of the `@opentelemetry/core` that `@opentelemetry/resources` resolves (it pins one),
 * read from its package.json without loading either.
 */
function openTelemetryVersion(): string | undefined {
  try {
    const resources = createRequire(import.meta.url).resolve('@opentelemetry/resources');
    let folder = dirname(createRequire(resources).resolve('@opentelemetry/core'));
    for (let depth = 0; depth < 4; depth++) {
      const pkg = readPackage(folder);
      if (pkg?.name === '@opentelemetry/core') return typeof pkg.version === 'string' ? pkg.version : undefined;
      folder = dirname(folder);
    }
  } catch {
    // Not resolvable from here: the attribute is left out.
  }
  return undefined;
}

function readPackage(folder: string): { name?: unknown; version?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
  } catch {
    return undefined;
  }
}

/** The `name` of the package.json nearest the app's entry script. */
function appPackageName(): string | undefined {
  const entry = process.argv[1];
  if (entry === undefined) return undefined;
  let folder = dirname(entry);
  for (let depth = 0; depth < 32; depth++) {
    const pkg = readPackage(folder);
    if (pkg !== undefined) return typeof pkg.name === 'string' && pkg.name !== '' ? pkg.name : undefined;
    const parent = dirname(folder);
    if (parent === folder) return undefined;
    folder = parent;
  }
  return undefined;
}
