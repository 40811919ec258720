// Apps run as child processes under `node --import poolscope/register`, killed when the file ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

export const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
export const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

export interface AppRun {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves (with `performance.now()`) once stdout has printed `text`; rejects if the app exits first. */
  printed(text: string): Promise<number>;
  /** The exit code and signal, and when the exit was seen. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** PoolscopeWarning lines on stderr. */
  warnings(): string[];
}

/**
 * poolscope/register's wait for an app's OpenTelemetry SDK: none, for apps that have none and
 * whose `/metrics` a test reads at once. Apps with an SDK set their own.
 */
export const NO_APP_SDK = { POOLSCOPE_APP_SDK_WAIT_MILLIS: '0' } as const;

/**
 * Runs `script` with `preloads` (default: poolscope's register; `--require X` as given, anything
 * else after `--import`) and `env` added to the test's own and to NO_APP_SDK.
 */
export function runApp(script: string, env: Record<string, string>, preloads: string[] = ['poolscope/register']): AppRun {
  const args = preloads.flatMap((preload) => (preload.startsWith('--') ? preload.split(' ') : ['--import', preload]));
  const child = spawn(process.execPath, [...args, script], {
    cwd: projectRoot,
    env: { ...process.env, ...NO_APP_SDK, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, at: performance.now() });
    });
  });
  const printed = (text: string) => new Promise<number>((resolve, reject) => {
    const check = () => {
      if (!stdout.includes(text)) return false;
      resolve(performance.now());
      return true;
    };
    if (check()) return;
    const onData = () => {
      if (check()) child.stdout!.off('data', onData);
    };
    child.stdout!.on('data', onData);
    void exited.then(() => {
      if (!check()) reject(new Error(`app exited before printing ${text}: ${stderr}`));
    });
  });
  return {
    child, exited, printed,
    stdout: () => stdout,
    stderr: () => stderr,
    warnings: () => stderr.split('\n').filter((line) => line.includes('PoolscopeWarning')),
  };
}
