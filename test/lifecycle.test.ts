// The end of the app: SIGTERM, SIGINT and beforeExit deliver the last OTLP export with exact
// figures, keep the app's exit code and its own handlers, and never hold the process longer than
// the bound (2 s); an endpoint that does not answer costs one warning. And poolscope loaded twice
// counts every request once.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { EXIT_BOUND_MILLIS } from '../dist/config.js';
import { startSilentServer } from './helpers/faults.ts';
import { otlpValue, startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver.ts';
import { fixture, projectRoot, runApp } from './helpers/processes.ts';
import { closedPort, startServer, type TestServer } from './helpers/servers.ts';

const app = fixture('lifecycle-app.mjs');
const REQUESTS = 5;

function otlpEnv(server: TestServer, endpoint: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TARGET_URL: server.origin,
    REQUESTS: String(REQUESTS),
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
    ...extra,
  };
}

/** The last export carries the app's every request, nothing in flight, and the server's sockets. */
function assertLastExportExact(receiver: OtlpReceiver, server: TestServer): void {
  const last = receiver.exports.at(-1);
  assert.ok(last, 'the receiver got an export');
  const origin = { 'server.port': String(server.port) };
  assert.equal(otlpValue(last, 'poolscope.client.requests', origin), server.truth.requests);
  assert.equal(otlpValue(last, 'poolscope.client.requests', { ...origin, 'poolscope.connection.reused': 'false' }), server.truth.connectionsWithRequests);
  assert.equal(otlpValue(last, 'poolscope.client.connections.opened', origin), server.truth.connections);
  assert.equal(otlpValue(last, 'http.client.active_requests', origin), 0);
  assert.equal(server.truth.requests, REQUESTS);
}

describe('the last export when the app ends', () => {
  it('beforeExit: delivered, and the app\'s exit code kept', async () => {
    const [server, receiver] = await Promise.all([startServer(), startOtlpReceiver()]);
    const run = runApp(app, otlpEnv(server, receiver.endpoint));
    const { code } = await run.exited;
    assert.equal(code, 3, run.stderr());
    assert.equal(receiver.exports.length, 1, 'one export: the last (the interval is 60 s)');
    assertLastExportExact(receiver, server);
    assert.deepEqual(run.warnings(), []);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} with no handler of the app's: delivered, then the app dies by ${signal} as Node would`, async () => {
      const [server, receiver] = await Promise.all([startServer(), startOtlpReceiver()]);
      const run = runApp(app, otlpEnv(server, receiver.endpoint, { END: 'signal' }));
      await run.printed('done');
      run.child.kill(signal);
      const exit = await run.exited;
      assert.deepEqual([exit.code, exit.signal], [null, signal]);
      assertLastExportExact(receiver, server);
    });

    it(`${signal} with the app's own handler: it runs, decides the exit code, and the export is delivered`, async () => {
      const [server, receiver] = await Promise.all([startServer(), startOtlpReceiver()]);
      const run = runApp(app, otlpEnv(server, receiver.endpoint, { END: 'graceful' }));
      await run.printed('done');
      run.child.kill(signal);
      const exit = await run.exited;
      assert.equal(exit.code, 7);
      assert.match(run.stdout(), new RegExp(`app handled ${signal}`));
      assertLastExportExact(receiver, server);
    });
  }

  it('an app handler that calls process.exit() decides alone', async () => {
    const [server, receiver] = await Promise.all([startServer(), startOtlpReceiver()]);
    const run = runApp(app, otlpEnv(server, receiver.endpoint, { END: 'exit' }));
    await run.printed('done');
    run.child.kill('SIGTERM');
    const exit = await run.exited;
    assert.equal(exit.code, 7);
    assert.match(run.stdout(), /app handled SIGTERM/);
  });
});

describe('an OTLP endpoint that does not answer', () => {
  /**
   * How long the app takes from "done" to its exit when the endpoint answers at once: this
   * machine's own cost of a last export and of exiting, measured beside the app under test, under
   * the same load.
   */
  async function referenceHold(server: TestServer): Promise<number> {
    const receiver = await startOtlpReceiver();
    const run = runApp(app, otlpEnv(server, receiver.endpoint, { REQUESTS: '40', OTEL_METRIC_EXPORT_INTERVAL: '100' }));
    const done = await run.printed('done');
    const exit = await run.exited;
    assert.equal(exit.code, 3, run.stderr());
    return exit.at - done;
  }

  /**
   * Each export gives up after half the bound: a periodic export that started just before the
   * app's end, then the last export, reach the bound itself, and the exit comes after that. The
   * slack for exiting and for late timers is ten times what the same app took to end with an
   * endpoint that answers, and at least half the bound: without the bound the exporter waits 10 s
   * per attempt, and a bound twice as long holds the app past that in most runs.
   */
  function assertWithinBound(held: number, referenceHeld: number): void {
    const slack = Math.max(EXIT_BOUND_MILLIS / 2, 10 * referenceHeld);
    assert.ok(held < EXIT_BOUND_MILLIS + slack,
      `exit came ${held.toFixed(0)} ms after the app was done: more than the ${EXIT_BOUND_MILLIS} ms bound and ${slack.toFixed(0)} ms ` +
      `of slack (the same app ended ${referenceHeld.toFixed(0)} ms after it was done with an endpoint that answers)`);
  }

  it('one warning; the app runs on and exits with its own code, within the bound (endpoint never answers)', async () => {
    const [server, silent, reference] = await Promise.all([startServer(), startSilentServer(), startServer()]);
    const run = runApp(app, otlpEnv(server, `http://127.0.0.1:${silent.port}`, {
      REQUESTS: '40', OTEL_METRIC_EXPORT_INTERVAL: '100',
    }));
    const [done, referenceHeld] = await Promise.all([run.printed('done'), referenceHold(reference)]);
    const exit = await run.exited;
    assert.equal(exit.code, 3);
    assert.equal(server.truth.requests, 40, 'every request of the app went out');
    assert.ok(silent.accepted() >= 1, 'exports were attempted');
    assert.equal(run.warnings().length, 1, run.stderr());
    assert.match(run.warnings()[0]!, /OTLP export failed/);
    assertWithinBound(exit.at - done, referenceHeld);
  });

  it('one warning, the same, when the endpoint refuses connections', async () => {
    const [server, reference] = await Promise.all([startServer(), startServer()]);
    const run = runApp(app, otlpEnv(server, `http://127.0.0.1:${await closedPort()}`, {
      REQUESTS: '40', OTEL_METRIC_EXPORT_INTERVAL: '100',
    }));
    const [done, referenceHeld] = await Promise.all([run.printed('done'), referenceHold(reference)]);
    const exit = await run.exited;
    assert.equal(exit.code, 3);
    assert.equal(server.truth.requests, 40);
    assert.equal(run.warnings().length, 1, run.stderr());
    assert.match(run.warnings()[0]!, /ECONNREFUSED/);
    assertWithinBound(exit.at - done, referenceHeld);
  });
});

describe('poolscope loaded twice', () => {
  it('the preload twice, and a second copy of the package: every request counted once', async (t) => {
    // A second copy, as when two dependencies each bring their own: its own files, the same deps.
    // Made here rather than in the describe, so that a run that filters this test out leaves none.
    const copy = mkdtempSync(join(projectRoot, 'node_modules', '.poolscope-copy-'));
    t.after(() => rmSync(copy, { recursive: true, force: true }));
    cpSync(join(projectRoot, 'dist'), join(copy, 'dist'), { recursive: true });
    cpSync(join(projectRoot, 'package.json'), join(copy, 'package.json'));
    writeFileSync(join(copy, 'marker'), 'a copy of poolscope for this test\n');
    const [server, receiver] = await Promise.all([startServer(), startOtlpReceiver()]);
    const second = pathToFileURL(join(copy, 'dist', 'register.js')).href;
    const run = runApp(app, otlpEnv(server, receiver.endpoint, { END: 'signal' }),
      ['poolscope/register', 'poolscope/register', second]);
    await run.printed('done');
    run.child.kill('SIGTERM');
    const exit = await run.exited;
    assert.equal(exit.signal, 'SIGTERM');
    assertLastExportExact(receiver, server);
    assert.deepEqual(run.warnings(), []);
  });
});
