import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { parseExposition, type Sample } from './exposition.js';
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

/** The samples of one Prometheus endpoint or saved exposition file. */
export async function readSource(source: string): Promise<Sample[]> {
  const text = isUrl(source) ? await scrape(source) : await readExpositionFile(source);
  let samples: Sample[];
  try {
    samples = parseExposition(text);
  } catch (error) {
    throw new SourceError(`${source} is not a Prometheus exposition (${(error as Error).message})`);
  }
  return samples;
}

/**
 * GET with node:http rather than fetch: a process that runs the agent (the demo) must not
 * count its own scrapes as traffic to an origin. Its user-agent makes it a scraper of its own,
 * owed its own peaks, whatever else scrapes from this host.
 */
function scrape(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const fail = (reason: string): void => reject(new SourceError(`cannot read ${url}: ${reason}`));
    const client = url.toLowerCase().startsWith('https:') ? https : http;
    const request = client.get(url, { headers: { accept: 'text/plain', 'user-agent': 'poolscope-report' }, timeout: FETCH_TIMEOUT_MS }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        fail(`HTTP ${response.statusCode}`);
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_EXPOSITION_BYTES) {
          request.destroy();
          fail('it answered more than 64 MiB, not a /metrics endpoint');
        } else {
          chunks.push(chunk);
        }
      });
      response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      response.on('error', (error) => fail(error.message));
    });
    request.on('timeout', () => {
      request.destroy();
      fail(`no answer within ${FETCH_TIMEOUT_MS / 1000} s`);
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      fail(`${error.code ?? error.message}. Is the service running with poolscope, and is that its metrics port?`);
    });
  });
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
