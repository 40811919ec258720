import { execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { ALLOCATED_MARKER, WARM_MARKER } from './warm-signal.mjs';

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

/**
 * V8 under callgrind: single-threaded, so its compilers and GC work in the counted thread; a
 * young generation large enough that no scavenge lands in a counted window (countedWindow() in
 * bench/lib/warm-signal.mjs, which reports the allocation instead); room enough in the old one
 * that no major GC starts inside one; a fixed hash seed: with a random one, V8's start-up search
 * for its hash secrets takes 5-15 million instructions, a different number in every process,
 * which the difference of two runs charged to the requests between them (up to ±4,000 per
 * request over 1,800 requests); and no memory reducer: the process waits for valgrind between
 * warm-up and count, and a full GC then would clear optimized code, to be compiled again
 * inside the count. `--trace-gc` tells whether a collection landed in the count anyway.
 */
const CALLGRIND_V8_FLAGS = [
  '--single-threaded', '--expose-gc', '--min-semi-space-size=128', '--max-semi-space-size=128',
  '--initial-old-space-size=512', '--hash-seed=1', '--no-memory-reducer', '--trace-gc', '--trace-opt',
];

/**
 * User-space instructions of `node <args>` under `valgrind --tool=callgrind`, counted from the
 * moment the script opens its counted window (countedWindow() in bench/lib/warm-signal.mjs):
 * valgrind runs the warm-up uninstrumented, several times faster, and the count starts there.
 * Also the bytes the window allocated (NaN if a collection ran in it), and `compiles`: how many
 * functions V8 optimized inside the window (--trace-opt), whose compiling the count holds, as it
 * runs on the main thread here (--single-threaded). `cacheSim`: valgrind
 * also simulates the caches, and `misses` holds the first-level instruction and data cache
 * misses (`I1mr`, `D1mr`, `D1mw`) and the last level's (`ILmr`, `DLmr`, `DLmw`), its model's,
 * not this CPU's.
 */
export async function callgrindInstructions(args, { cacheSim = false } = {}) {
  const child = spawn('valgrind', [
    '--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', '--callgrind-out-file=/dev/null',
    ...(cacheSim ? ['--cache-sim=yes'] : []),
    process.execPath, ...CALLGRIND_V8_FLAGS, ...args,
  ], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, POOLSCOPE_BENCH_WARM_SIGNAL: '1' } });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text) => { stderr += text; });
  let stdout = '';
  let counting = false;
  child.stdout.setEncoding('utf8').on('data', (text) => {
    stdout += text;
    if (counting || !stdout.includes(WARM_MARKER)) return;
    counting = true;
    execFile('callgrind_control', ['--instr=on', String(child.pid)], (error) => {
      if (error) child.kill();
      else child.stdin.end('go\n');
    });
  });
  const timer = setTimeout(() => child.kill(), 900_000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  const match = /Collected : ([\d ]+)/.exec(stderr);
  if (code !== 0 || !counting || match === null) {
    throw new Error(`callgrind gave no count for ${args.join(' ')} (exit ${code}${counting ? '' : ', never warm'}): ${stderr.slice(-500)}`);
  }
  // --trace-gc prints a line for each collection: none may fall inside the counted window.
  const window = stdout.slice(stdout.indexOf(WARM_MARKER), stdout.indexOf(ALLOCATED_MARKER));
  const allocated = new RegExp(`${ALLOCATED_MARKER} (\\S+)`).exec(stdout);
  if (/Scavenge|Mark-Compact|Mark-Sweep/.test(window)) {
    // The count holds a collection's work too, which the other run of the pair may not: no figure.
    process.stderr.write(`callgrind: a garbage collection ran inside the count of ${args.join(' ')}; its figures are left out\n`);
    return { instructions: NaN, allocated: NaN, misses: undefined, compiles: 0 };
  }
  // With the cache simulation, one count per event, in the order of valgrind's `Events` line.
  const counts = match[1].trim().split(/\s+/).map(Number);
  const names = /Events *: (.*)/.exec(stderr)?.[1].trim().split(/\s+/) ?? ['Ir'];
  const misses = cacheSim ? Object.fromEntries(names.map((name, i) => [name, counts[i]]).filter(([name]) => /m[rw]$/.test(name))) : undefined;
  const compiles = window.split('[completed compiling').length - 1;
  return { instructions: counts[0], allocated: allocated === null ? NaN : Number(allocated[1]), misses, compiles };
}

/** Pins this process (every thread it has now, and so the ones it makes) to one core. */
export function pinSelf(core) {
  if (!canPin) return false;
  execFileSync('taskset', ['-a', '-c', '-p', String(core), String(process.pid)], { stdio: 'ignore' });
  return true;
}

/** The command and arguments that run `node <args>` on one core, or unpinned where `taskset` is missing. */
export function nodeOnCore(core, args) {
  return canPin ? ['taskset', ['-c', String(core), process.execPath, ...args]] : [process.execPath, args];
}

/** The benchmark server in a child process on another core; `request(message)` asks it and waits for the answer. */
export async function startServerProcess(core = 1) {
  const script = fileURLToPath(new URL('./server.mjs', import.meta.url));
  const [command, args] = nodeOnCore(core, [script]);
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
