// What bench/run.ts (entries) and bench/media.ts (media) share: errors, the seeded random
// numbers, the load generator in its child process, percentiles and number formatting.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { LoadMessage, LoadRequest, LoadResult } from './load.js';

/** A problem with the benchmark's own input or results: reported by its message alone. */
export class BenchError extends Error {}

export const log = (line: string) => console.error(line);

/** A whole number from the environment, `fallback` when unset; anything else outside [min, max] is an error. */
export function intFromEnv(name: string, fallback: number, min: number, max: number, unit = ''): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d{1,6}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new BenchError(`${name} must be a whole number${unit ? ` of ${unit}` : ''} from ${min} to ${max}, not "${raw}"`);
  }
  return Number(raw);
}

/** mulberry32: deterministic, so runs are comparable. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// --- the load generator ---

export const loadProcesses = new Set<ChildProcess>();

/** One measurement of all of a scenario's servers, in a child process running bench/load.ts. */
export function measure(req: LoadRequest): Promise<LoadResult[]> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL('./load.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    loadProcesses.add(child);
    let settled = false;
    const done = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    child.once('message', (msg: LoadMessage) => done(() => (msg.ok ? resolve(msg.results) : reject(new Error(`load generator failed: ${msg.error}`)))));
    child.once('error', (err) => done(() => reject(err)));
    child.once('exit', (code, signal) => {
      loadProcesses.delete(child);
      done(() => reject(new Error(`load generator exited (${signal ?? code}) without a result`)));
    });
    child.send(req);
  });
}

export function checkClean(label: string, r: LoadResult): void {
  if (r.non2xx || r.errors || r.timeouts || r.ok === 0) {
    throw new BenchError(`${label}: ${r.ok} 2xx, ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts; figures discarded`);
  }
}

/** Nearest-rank percentile of values sorted ascending (as bench/load.ts computes them). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

// --- reporting ---

export const int = (n: number) => Math.round(n).toLocaleString('en-US');
export const ms = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));
/** Three significant digits, never in exponent notation: 0.0128×, 1.23×, 70.7×, 103×. */
export const ratio = (n: number) => `${n >= 100 ? n.toFixed(0) : n >= 1 ? n.toPrecision(3) : n.toFixed(Math.max(2, 2 - Math.floor(Math.log10(n))))}×`;
export const kb = (n: number) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KB`);

/** Puts `generated` between its markers in the report, or appends it after `prose` when missing. */
export async function writeSection(report: string, start: string, end: string, prose: string, generated: string): Promise<void> {
  let text: string;
  if (existsSync(report)) {
    const current = await readFile(report, 'utf8');
    const a = current.indexOf(start);
    const b = current.indexOf(end);
    text = a >= 0 && b > a ? current.slice(0, a) + generated + current.slice(b + end.length) : `${current.trimEnd()}\n\n${prose}${generated}\n`;
  } else {
    text = `# Benchmarks\n\n${prose}${generated}\n`;
  }
  await writeFile(report, text);
}
