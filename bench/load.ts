// The load generator of the benchmark, run in a child process (forked by bench/run.ts) so it does
// not share an event loop with the servers it measures. A process, not a worker thread: inside a
// worker thread autocannon assumes it is one of its own workers and returns raw, unaggregated
// results.
//
// autocannon's own latency histogram has a resolution of 1 ms, too coarse for a bare Fastify
// server on loopback, so latencies are also recorded here from each response's hrtime-based
// duration and the percentiles computed from those.
import autocannon from 'autocannon';

export interface LoadRequest {
  url: string;
  connections: number;
  /** Seconds of measured load. */
  duration: number;
  /** Seconds of load before it, whose results are thrown away (0: none). */
  warmup: number;
}

export interface LoadResult {
  /** Mean of the per-second request counts (autocannon's requests.average). */
  requestsPerSec: number;
  /** Mean of the per-second response byte counts, headers included. */
  bytesPerSec: number;
  total: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Latency in milliseconds over the 2xx responses, from hrtime. */
  latency: { mean: number; p50: number; p90: number; p99: number; max: number };
  seconds: number;
}

export type LoadMessage = { ok: true; result: LoadResult } | { ok: false; error: string };

function run(url: string, connections: number, duration: number, record?: (ms: number) => void): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon({ url, connections, duration, pipelining: 1, timeout: 10 }, (err: unknown, result) => {
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else resolve(result);
    });
    if (record) {
      instance.on('response', (_client, statusCode, _bytes, ms) => {
        if (statusCode >= 200 && statusCode < 300) record(ms);
      });
    }
  });
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

export async function measure(req: LoadRequest): Promise<LoadResult> {
  if (req.warmup > 0) await run(req.url, req.connections, req.warmup);
  let samples = new Float64Array(1 << 16);
  let n = 0;
  const record = (ms: number) => {
    if (n === samples.length) {
      const bigger = new Float64Array(samples.length * 2);
      bigger.set(samples);
      samples = bigger;
    }
    samples[n++] = ms;
  };
  const result = await run(req.url, req.connections, req.duration, record);
  const sorted = samples.slice(0, n).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    requestsPerSec: result.requests.average,
    bytesPerSec: result.throughput.average,
    total: result.requests.total,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latency: {
      mean: n ? sum / n : Number.NaN,
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
      max: n ? sorted[n - 1]! : Number.NaN,
    },
    seconds: result.duration,
  };
}

// Forked with an IPC channel: one LoadRequest in, one LoadMessage out, then exit.
if (process.send) {
  process.once('message', (req: LoadRequest) => {
    const reply = (msg: LoadMessage) => process.send!(msg, undefined, undefined, () => process.exit(0));
    measure(req).then(
      (result) => reply({ ok: true, result }),
      (err: unknown) => reply({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    );
  });
}
