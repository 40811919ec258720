// Node 24 chooses its AsyncLocalStorage implementation lazily, and a process whose first nextTick
// came before the choice runs undici's HTTP/2 requests ~7% slower (src/async-context.ts): poolscope
// has Node choose before anything of its own or of the app's runs. Checked in a child process,
// through Node's internal module, by whether the implementation `nextTick` reads the context
// through is still the inactive one Node starts with.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const register = fileURLToPath(new URL('../dist/register.js', import.meta.url));
// Node 22 leaves the async-context-frame implementation off unless asked.
const frameOption = Number(process.versions.node.split('.')[0]) < 24 ? ['--experimental-async-context-frame'] : [];

/** Whether Node has chosen its AsyncLocalStorage implementation when `script`'s body has run. */
async function chosenAfter(script: string, nodeOptions: string[] = []): Promise<boolean> {
  const probe = `
    import { createRequire } from 'node:module';
    const frame = createRequire(import.meta.url)('internal/async_context_frame');
    ${script}
    // Node 24 swaps the prototype when it chooses, Node 26 gives the object methods of its own.
    const untouched = Object.getPrototypeOf(frame).name === 'InactiveAsyncContextFrame' && !Object.hasOwn(frame, 'current');
    process.stdout.write(JSON.stringify(untouched ? 'inactive' : 'chosen'));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, [...frameOption, '--expose-internals', ...nodeOptions, '--input-type=module', '-e', probe], {
    cwd: projectRoot, env: { ...process.env, OTEL_METRICS_EXPORTER: 'none' }, timeout: 30_000,
  });
  return JSON.parse(stdout) === 'chosen';
}

it('a process that has not used AsyncLocalStorage or timers has not chosen (the check can tell)', async () => {
  assert.equal(await chosenAfter(''), false);
});

it('poolscope/register has Node choose before the app runs', async () => {
  assert.equal(await chosenAfter('', ['--import', register]), true);
});

it('loading poolscope has Node choose, before the app calls start()', async () => {
  assert.equal(await chosenAfter(`await import('poolscope');`), true);
});
