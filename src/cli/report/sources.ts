import { readFile } from 'node:fs/promises';
import { parseExposition, type Sample } from './exposition.js';
import { get, NoAnswer } from './http-get.js';
import { DEFAULTS } from '../../config.js';

export const DEFAULT_SOURCE = `http://127.0.0.1:${DEFAULTS.port}/metrics`;
const FETCH_TIMEOUT_MS = 5_000;
const MAX_EXPOSITION_BYTES = 64 << 20;

/** A source that cannot be read: the report says why and exits 2. */
export class SourceError extends Error {
  readonly code = 'POOLSCOPE_BAD_SOURCE';
}

export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/**
 * The samples of one Prometheus endpoint or saved exposition file. `headers` go with the GET of
 * an endpoint (a /metrics behind a proxy that wants credentials).
 */
export async function readSource(source: string, headers: Readonly<Record<string, string>> = {}): Promise<Sample[]> {
  const text = isUrl(source) ? await scrape(source, headers) : await readExpositionFile(source);
  let samples: Sample[];
  try {
    samples = parseExposition(text);
  } catch (error) {
    throw new SourceError(`${source} is not a Prometheus exposition (${(error as Error).message})`);
  }
  return samples;
}

/** The exposition a live endpoint serves, read with the report's node:http GET (see http-get.ts). */
async function scrape(url: string, headers: Readonly<Record<string, string>>): Promise<string> {
  let answer;
  try {
    if (!URL.canParse(url)) throw new SourceError(`cannot read ${url}: not a URL`);
    answer = await get(new URL(url), { headers: { accept: 'text/plain', ...headers }, timeoutMs: FETCH_TIMEOUT_MS, maxBytes: MAX_EXPOSITION_BYTES });
  } catch (error) {
    if (!(error instanceof NoAnswer)) throw error;
    const reason = error.kind === 'network'
      ? `${error.message}. Is the service running with poolscope, and is that its metrics port?`
      : error.kind === 'too-large' ? `${error.message}, not a /metrics endpoint` : error.message;
    throw new SourceError(`cannot read ${url}: ${reason}`);
  }
  if (answer.status !== 200) throw new SourceError(`cannot read ${url}: HTTP ${answer.status}`);
  return answer.body;
}

async function readExpositionFile(path: string): Promise<string> {
  try {
    const buffer = await readFile(path);
    if (buffer.length > MAX_EXPOSITION_BYTES) throw new SourceError(`${path} is larger than 64 MiB: not a saved /metrics`);
    return buffer.toString('utf8');
  } catch (error) {
    if (error instanceof SourceError) throw error;
    const code = (error as { code?: unknown }).code;
    throw new SourceError(`cannot read ${path}: ${typeof code === 'string' ? code : (error as Error).message}`);
  }
}
