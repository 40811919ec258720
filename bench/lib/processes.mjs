import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** Whether `taskset` can pin processes to cores here. */
export const canPin = (() => {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Whether valgrind is installed, for the instruction counts. */
export function valgrindAvailable() {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Pins this process (every thread it has now, and so the ones it makes) to one core. */
export function pinSelf(core) {
  if (!canPin) return false;
  execFileSync('taskset', ['-a', '-c', '-p', String(core), String(process.pid)], { stdio: 'ignore' });
  return true;
}

/** The benchmark server in a child process on another core; `request(message)` asks it and waits for the answer. */
export async function startServerProcess(core = 1) {
  const script = fileURLToPath(new URL('./server.mjs', import.meta.url));
  const [command, args] = canPin ? ['taskset', ['-c', String(core), process.execPath, script]] : [process.execPath, [script]];
  const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [ready] = await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(([code]) => { throw new Error(`benchmark server exited (${code})`); }),
  ]);
  if (ready.type !== 'ready') throw new Error('benchmark server did not start');
  return {
    async request(message) {
      const answer = once(child, 'message');
      child.send(message);
      return (await answer)[0];
    },
    close() {
      if (child.connected) child.disconnect();
      return child.exitCode === null ? once(child, 'exit') : Promise.resolve();
    },
  };
}
