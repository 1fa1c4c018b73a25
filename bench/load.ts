// The load generator of the benchmark, run in a child process (forked by bench/run.ts) so it does
// not share an event loop with the servers it measures. A process, not a worker thread: inside a
// worker thread autocannon assumes it is one of its own workers and returns raw, unaggregated
// results.
//
// One request measures several servers (the CMS and its baselines) in alternating slices, ABC then
// CBA, and so on: whatever else slows the machine down for a while (on a shared machine, someone
// else's build) then falls on all of them rather than on whichever ran at that moment, and a
// steady drift cancels out of their ratios. Each server is warmed up once, before the first slice.
//
// autocannon's own latency histogram has a resolution of 1 ms, too coarse for a bare Fastify
// server on loopback, so latencies are also recorded here from each response's hrtime-based
// duration and the percentiles computed from those.
import autocannon from 'autocannon';

export interface LoadRequest {
  /** The URLs to measure, in alternating slices; one result per URL, in this order. */
  urls: string[];
  connections: number;
  /** Seconds of measured load per URL, split into `slices` runs of whole seconds. */
  duration: number;
  /** Seconds of load on each URL before its first slice, whose results are thrown away (0: none). */
  warmup: number;
  /** Into how many runs each URL's measured seconds are split (at most `duration`). */
  slices: number;
}

export interface LoadResult {
  /** Responses per second over the measured slices: total / seconds. */
  requestsPerSec: number;
  /** Response bytes per second over the measured slices, headers included. */
  bytesPerSec: number;
  total: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Latency in milliseconds over the 2xx responses, from hrtime. */
  latency: { mean: number; p50: number; p90: number; p99: number; max: number };
  /** Measured seconds, summed over the slices. */
  seconds: number;
  slices: number;
}

export type LoadMessage = { ok: true; results: LoadResult[] } | { ok: false; error: string };

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

/** Latency samples (ms) of one URL, over all its slices. */
class Samples {
  private values = new Float64Array(1 << 16);
  length = 0;

  add(ms: number): void {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = ms;
  }

  sorted(): Float64Array {
    return this.values.slice(0, this.length).sort();
  }
}

interface Totals {
  samples: Samples;
  total: number;
  bytes: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  seconds: number;
}

function summarize(t: Totals, slices: number): LoadResult {
  const sorted = t.samples.sorted();
  const n = sorted.length;
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    requestsPerSec: t.seconds > 0 ? t.total / t.seconds : Number.NaN,
    bytesPerSec: t.seconds > 0 ? t.bytes / t.seconds : Number.NaN,
    total: t.total,
    ok: t.ok,
    non2xx: t.non2xx,
    errors: t.errors,
    timeouts: t.timeouts,
    latency: {
      mean: n ? sum / n : Number.NaN,
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
      max: n ? sorted[n - 1]! : Number.NaN,
    },
    seconds: t.seconds,
    slices,
  };
}

export async function measure(req: LoadRequest): Promise<LoadResult[]> {
  if (req.urls.length === 0) return [];
  if (req.warmup > 0) for (const url of req.urls) await run(url, req.connections, req.warmup);
  const totals: Totals[] = req.urls.map(() => ({ samples: new Samples(), total: 0, bytes: 0, ok: 0, non2xx: 0, errors: 0, timeouts: 0, seconds: 0 }));
  const slices = Math.max(1, Math.min(req.slices, req.duration));
  const forward = req.urls.map((_, i) => i);
  const backward = [...forward].reverse();
  for (let slice = 0; slice < slices; slice++) {
    // whole seconds, as even as they split: 8 in 3 slices is 3 + 3 + 2
    const seconds = Math.floor(req.duration / slices) + (slice < req.duration % slices ? 1 : 0);
    for (const i of slice % 2 === 0 ? forward : backward) {
      const t = totals[i]!;
      const result = await run(req.urls[i]!, req.connections, seconds, (ms) => t.samples.add(ms));
      t.total += result.requests.total;
      t.bytes += result.throughput.total;
      t.ok += result['2xx'];
      t.non2xx += result.non2xx;
      t.errors += result.errors;
      t.timeouts += result.timeouts;
      t.seconds += result.duration;
    }
  }
  return totals.map((t) => summarize(t, slices));
}

// Forked with an IPC channel: one LoadRequest in, one LoadMessage out, then exit.
if (process.send) {
  process.once('message', (req: LoadRequest) => {
    const reply = (msg: LoadMessage) => process.send!(msg, undefined, undefined, () => process.exit(0));
    measure(req).then(
      (results) => reply({ ok: true, results }),
      (err: unknown) => reply({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    );
  });
}
