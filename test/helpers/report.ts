// What the tests of `poolscope report` read of its `--json` document, and the workloads they share.
import assert from 'node:assert/strict';
import { sleep, type Handler, type TestServer } from './servers.ts';

/** An origin's line of `poolscope report --json`. */
export interface OriginLine {
  origin: string;
  poolType: string | null;
  requests: number;
  reuseRate: number | null;
  connectionsOpened: number;
  enoughTraffic: boolean;
  peakActive: number;
  queueP95Ms: number | null;
  findings: Array<{ kind: string; summary: string; evidence: string; change: string }>;
}

export interface ReportJson {
  sources: string[];
  origins: OriginLine[];
  failing: string[];
  notChecked: string[];
  throughputSeconds: number | null;
  /** With `--prometheus`: the window read. */
  window: { prometheus: string; selector: string; range: string; rangeSeconds: number; at: string } | null;
}

export function parseReport(stdout: string): ReportJson {
  return JSON.parse(stdout) as ReportJson;
}

/** The line of `server`'s origin for one pool type. */
export function line(report: ReportJson, server: TestServer, poolType: string): OriginLine {
  const found = report.origins.find((origin) => origin.origin === server.origin && origin.poolType === poolType);
  assert.ok(found, `no ${poolType} line for ${server.origin} in ${report.origins.map((o) => `${o.origin} ${o.poolType}`).join(', ')}`);
  return found;
}

export function kinds(origin: OriginLine): string[] {
  return origin.findings.map((finding) => finding.kind);
}

/** Answers 200 `ok` `ms` after the request's body has been read. */
export const slow = (ms: number): Handler => (request, response) => {
  request.resume();
  request.on('end', () => setTimeout(() => response.end('ok'), ms));
};

/** `workers` loops making `total` calls in all. */
export async function inParallel(workers: number, total: number, call: () => Promise<unknown>): Promise<void> {
  let started = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (started++ < total) await call();
  }));
}

/**
 * Five bursts of five sequential calls, `gapMs` apart: a keep-alive shorter than the gap closes
 * each burst's socket. Returns the gaps as measured, the test's bound for the advice.
 */
export async function burstsApart(gapMs: number, call: () => Promise<unknown>): Promise<number[]> {
  const gapsMs: number[] = [];
  for (let burst = 0; burst < 5; burst++) {
    if (burst > 0) {
      const idleFrom = performance.now();
      await sleep(gapMs);
      gapsMs.push(performance.now() - idleFrom);
    }
    for (let i = 0; i < 5; i++) {
      await call();
      await sleep(2);
    }
  }
  return gapsMs;
}
