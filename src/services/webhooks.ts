// Webhooks: management, the URL policy, signing, and the dispatcher that turns the change log into
// deliveries and sends them. Every server process runs a dispatcher; the storage layer makes each
// delivery exist once and each send claimed once (see WebhooksRepository).
import { createHmac, randomBytes } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import type { WebhookConfig } from '../config.js';
import type { ContentTypeRegistry } from '../content-types/registry.js';
import { CmsError, codes, invalid, notFound, type ErrorDetail } from '../errors.js';
import type { Change, ChangeLog } from '../storage/changes.js';
import { EVENTS, WebhooksRepository, type Delivery, type DeliveryResponse, type DeliveryState, type Webhook } from '../storage/webhooks.js';
import type { Clock } from './entries.js';
import { ID_PATTERN } from './query.js';

declare module 'fastify' {
  interface FastifyInstance {
    webhooks: WebhooksService;
  }
}

// --- the URL policy ---------------------------------------------------------------------------------

export type AddressClass = 'loopback' | 'private' | 'link-local' | 'reserved';

const ranges = (list: [string, number, 'ipv4' | 'ipv6'][]) => {
  const b = new BlockList();
  for (const [net, prefix, type] of list) {
    if ((type === 'ipv4' && prefix === 32) || (type === 'ipv6' && prefix === 128)) b.addAddress(net, type);
    else b.addSubnet(net, prefix, type);
  }
  return b;
};

const LOOPBACK = ranges([['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']]);
const LINK_LOCAL = ranges([['169.254.0.0', 16, 'ipv4'], ['fe80::', 10, 'ipv6']]);
/** Cloud metadata services outside the link-local ranges. */
const METADATA = ranges([['100.100.100.200', 32, 'ipv4'], ['fd00:ec2::254', 128, 'ipv6']]);
const PRIVATE = ranges([['10.0.0.0', 8, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.168.0.0', 16, 'ipv4'], ['100.64.0.0', 10, 'ipv4'], ['fc00::', 7, 'ipv6']]);
/** "This network" (0.0.0.0), multicast, reserved and broadcast; the unspecified address and IPv6 multicast. */
const RESERVED = ranges([['0.0.0.0', 8, 'ipv4'], ['224.0.0.0', 4, 'ipv4'], ['240.0.0.0', 4, 'ipv4'], ['::', 128, 'ipv6'], ['ff00::', 8, 'ipv6']]);

/** An IPv4 address hidden in an IPv6 one (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, compatible `::a.b.c.d`). */
function embeddedV4(ip: string): string | undefined {
  const lower = ip.toLowerCase();
  const m = /^(?:::ffff:(?:0:)?|64:ff9b::|::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (m) return m[1];
  const hex = /^(?:::ffff:(?:0:)?|64:ff9b::|::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return undefined;
  const hi = parseInt(hex[1]!, 16);
  const lo = parseInt(hex[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** What kind of address this is; undefined for a public one. */
export function classifyAddress(address: string): AddressClass | undefined {
  const ip = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(ip);
  if (family === 0) return 'reserved';
  if (family === 6) {
    const v4 = embeddedV4(ip);
    if (v4 && isIP(v4) === 4) return classifyAddress(v4);
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (LOOPBACK.check(ip, type)) return 'loopback';
  if (LINK_LOCAL.check(ip, type) || METADATA.check(ip, type)) return 'link-local';
  if (RESERVED.check(ip, type)) return 'reserved';
  if (PRIVATE.check(ip, type)) return 'private';
  return undefined;
}

export interface UrlPolicy {
  allowLoopback: boolean;
  allowPrivate: boolean;
}

/** Why a webhook may not call this address; undefined when it may. */
export function refusal(address: string, policy: UrlPolicy): string | undefined {
  const kind = classifyAddress(address);
  if (!kind) return undefined;
  if (kind === 'loopback' && policy.allowLoopback) return undefined;
  if (kind === 'private' && policy.allowPrivate) return undefined;
  const why: Record<AddressClass, string> = {
    loopback: 'a loopback address (WEBHOOK_ALLOW_LOOPBACK is off)',
    private: 'a private address (WEBHOOK_ALLOW_PRIVATE is off)',
    'link-local': 'a link-local or cloud metadata address',
    reserved: 'an unspecified, multicast or reserved address',
  };
  return `${address} is ${why[kind]}`;
}

class RefusedAddress extends Error {
  readonly code = 'CMS_WEBHOOK_REFUSED_ADDRESS';
}

/** Every address the host resolves to. */
function resolveAll(hostname: string, family: number = 0): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, family, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses)));
  });
}

/**
 * A lookup for the socket: resolves, refuses if any address is one webhooks may not call, and
 * hands the socket the checked addresses, so what is connected to is what was checked (a DNS
 * answer that changes between the check and the connection cannot slip past).
 */
function guardedLookup(policy: UrlPolicy): LookupFunction {
  return (hostname, options, callback) => {
    resolveAll(hostname, typeof options.family === 'number' ? options.family : 0).then(
      (addresses) => {
        const bad = addresses.map((a) => refusal(a.address, policy)).find(Boolean);
        if (bad || !addresses.length) {
          callback(new RefusedAddress(`${hostname} resolves to ${bad ?? 'no address'}`), '', 0);
          return;
        }
        if (options.all) (callback as unknown as (err: null, a: LookupAddress[]) => void)(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

const urlError = (message: string) => invalid(codes.webhookUrl, message, [{ path: '/url', message }]);

/** The URL's shape: http(s), a host, no credentials or fragment. Returns the normalised URL or a problem. */
function urlShape(raw: unknown): { url?: URL; problem?: string } {
  if (typeof raw !== 'string' || !raw.length) return { problem: 'must be an http or https URL' };
  if (raw.length > 2048) return { problem: 'must be at most 2048 characters' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: 'is not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { problem: 'must use http or https' };
  if (!url.hostname) return { problem: 'has no host' };
  if (url.username || url.password) return { problem: 'must not hold credentials: receivers check the signature' };
  if (url.hash) return { problem: 'must not have a #fragment' };
  return { url };
}

/** Checks where the URL leads (at create and update; sending checks again, at connection time). */
export async function checkUrlTarget(url: URL, policy: UrlPolicy): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    const why = refusal(host, policy);
    if (why) throw urlError(`The URL may not be called: ${why}`);
    return;
  }
  let addresses: LookupAddress[];
  let timer: NodeJS.Timeout | undefined;
  try {
    addresses = await Promise.race([
      resolveAll(host),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), 5000);
      }),
    ]);
  } catch {
    throw urlError(`The URL's host ${host} does not resolve`);
  } finally {
    clearTimeout(timer);
  }
  for (const a of addresses) {
    const why = refusal(a.address, policy);
    if (why) throw urlError(`The URL may not be called: ${host} resolves to ${why}`);
  }
  if (!addresses.length) throw urlError(`The URL's host ${host} does not resolve`);
}

// --- signing ------------------------------------------------------------------------------------------

/** `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`. */
export function signature(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

// --- the service ------------------------------------------------------------------------------------

const FIELDS = ['url', 'events', 'types', 'secret', 'enabled', 'description'];
const SECRET = /^[\x21-\x7e]{16,200}$/;
const DELIVERY_STATES: DeliveryState[] = ['pending', 'sending', 'succeeded', 'failed'];
/** First retry after about this long; each next one waits twice as long, up to MAX_BACKOFF_MS. */
const BASE_BACKOFF_MS = 10_000;
const MAX_BACKOFF_MS = 3600_000;
/** Changes read at a time. */
const BATCH = 500;
/** A site.publish burst closes after this many changes, however quick. */
const MAX_BURST = 1000;
/** Deliveries sent at once by one process. */
const SENDERS = 4;
/** How long the runner rests when there are no webhooks at all. */
const IDLE_MS = 30_000;
/** Finished deliveries are kept this long. */
const KEEP_MS = 30 * 86400_000;

export type PublicWebhook = Omit<Webhook, 'secret' | 'since'>;
export type PublicDelivery = Omit<Delivery, 'claimedBy' | 'leaseUntil' | 'fence' | 'roundStart'>;

export interface RunResult {
  /** Deliveries this process created. */
  created: number;
  /** Sends this process made (successful or not). */
  sent: number;
}

export interface SendResult {
  status: number;
  ms: number;
  error?: string;
}

export class WebhooksService {
  /** Names this process in claims. */
  readonly runner = `${process.pid}-${randomBytes(4).toString('hex')}`;
  private lastPrune = 0;
  /** With no webhooks at all, the runner's ticks skip until then (ms, monotonic). */
  private quietUntil = 0;
  /** When this process last read the log by range though the change after its cursor was missing (ms, monotonic). */
  private lastRangeRead = -Infinity;

  constructor(
    private readonly repo: WebhooksRepository,
    private readonly registry: ContentTypeRegistry,
    private readonly changes: ChangeLog,
    readonly config: WebhookConfig,
    private readonly now: Clock = () => new Date(),
  ) {}

  // --- management ---

  private publicView(w: Webhook): PublicWebhook {
    const { secret: _secret, since: _since, ...rest } = w;
    return rest;
  }

  private async find(id: string): Promise<Webhook> {
    const w = ID_PATTERN.test(id) ? await this.repo.get(id) : null;
    if (!w) throw notFound(codes.webhookNotFound, `No webhook ${id.slice(0, 100)}`);
    return w;
  }

  async list(): Promise<PublicWebhook[]> {
    return (await this.repo.list()).map((w) => this.publicView(w));
  }

  async get(id: string): Promise<PublicWebhook> {
    return this.publicView(await this.find(id));
  }

  /** Validates a body; `partial` for PATCH. Returns the fields to store. */
  private async parse(body: unknown, partial: boolean): Promise<Partial<Omit<Webhook, 'types'>> & { types?: string[] | null }> {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw invalid(codes.webhookInvalid, 'The body must be a JSON object', [{ path: '', message: 'must be an object' }]);
    }
    const b = body as Record<string, unknown>;
    const details: ErrorDetail[] = [];
    const out: Partial<Omit<Webhook, 'types'>> & { types?: string[] | null } = {};
    for (const key of Object.keys(b)) if (!FIELDS.includes(key)) details.push({ path: `/${key}`, message: 'unknown field' });
    if (!partial) {
      for (const key of ['url', 'events']) if (b[key] === undefined) details.push({ path: `/${key}`, message: 'required' });
    }
    let url: URL | undefined;
    let urlProblem = false;
    if (b.url !== undefined) {
      const shape = urlShape(b.url);
      if (shape.problem) {
        details.push({ path: '/url', message: shape.problem });
        urlProblem = true;
      } else url = shape.url;
    }
    if (b.events !== undefined) {
      if (!Array.isArray(b.events) || !b.events.length) details.push({ path: '/events', message: `must be a non-empty array of: ${EVENTS.join(', ')}` });
      else {
        const seen = new Set<string>();
        b.events.forEach((e, i) => {
          if (typeof e !== 'string' || !EVENTS.includes(e)) details.push({ path: `/events/${i}`, message: `unknown event; one of ${EVENTS.join(', ')}` });
          else if (seen.has(e)) details.push({ path: `/events/${i}`, message: 'listed twice' });
          else seen.add(e);
        });
        out.events = [...seen];
      }
    }
    if (b.types !== undefined) {
      if (b.types === null && partial) out.types = null;
      else if (!Array.isArray(b.types) || !b.types.length || b.types.length > 100) details.push({ path: '/types', message: 'must be an array of 1 to 100 content type ids' });
      else {
        const seen = new Set<string>();
        b.types.forEach((t, i) => {
          if (typeof t !== 'string' || !this.registry.get(t)) details.push({ path: `/types/${i}`, message: 'unknown content type' });
          else if (seen.has(t)) details.push({ path: `/types/${i}`, message: 'listed twice' });
          else seen.add(t);
        });
        out.types = [...seen];
      }
    }
    if (b.secret !== undefined) {
      if (typeof b.secret !== 'string' || !SECRET.test(b.secret)) details.push({ path: '/secret', message: 'must be 16 to 200 printable ASCII characters, no spaces' });
      else out.secret = b.secret;
    }
    if (b.enabled !== undefined) {
      if (typeof b.enabled !== 'boolean') details.push({ path: '/enabled', message: 'must be true or false' });
      else out.enabled = b.enabled;
    }
    if (b.description !== undefined) {
      if (typeof b.description !== 'string' || b.description.length > 500) details.push({ path: '/description', message: 'must be a string of at most 500 characters' });
      else out.description = b.description;
    }
    if (details.length) {
      const onlyUrl = urlProblem && details.length === 1;
      throw invalid(onlyUrl ? codes.webhookUrl : codes.webhookInvalid, onlyUrl ? `The URL ${details[0]!.message}` : 'The webhook is not valid', details);
    }
    if (url) {
      await checkUrlTarget(url, this.config);
      out.url = url.href;
    }
    return out;
  }

  async create(body: unknown, createdBy: string): Promise<{ webhook: PublicWebhook; secret: string }> {
    const fields = await this.parse(body, false);
    const at = this.now().toISOString();
    const secret = fields.secret ?? randomBytes(32).toString('hex');
    const w = await this.repo.create({
      url: fields.url!,
      events: fields.events!,
      ...(fields.types ? { types: fields.types } : {}),
      secret,
      enabled: fields.enabled ?? true,
      description: fields.description ?? '',
      createdAt: at,
      updatedAt: at,
      createdBy,
      since: await this.changes.head(),
    });
    this.quietUntil = 0;
    return { webhook: this.publicView(w), secret };
  }

  async update(id: string, body: unknown): Promise<{ webhook: PublicWebhook; changed: string[] }> {
    const current = await this.find(id);
    const fields = await this.parse(body, true);
    const changed = Object.keys(fields);
    if (!changed.length) return { webhook: this.publicView(current), changed };
    const { types, ...set } = fields;
    const update: Partial<Webhook> = { ...set, updatedAt: this.now().toISOString() };
    // turned back on: it hears of changes from now, not of those made while it was off
    if (fields.enabled === true && !current.enabled) update.since = await this.changes.head();
    if (types) update.types = types;
    // site.publish newly asked for: bursts from now on, not every one since the webhook was made
    if (fields.events?.includes('site.publish') && !current.events.includes('site.publish')) await this.repo.moveCursor(`site/${current._id}`, await this.changes.head());
    let w = await this.repo.update(current._id, update);
    if (types === null) w = await this.repo.unsetTypes(current._id);
    if (!w) throw notFound(codes.webhookNotFound, `No webhook ${id}`);
    return { webhook: this.publicView(w), changed };
  }

  async delete(id: string): Promise<PublicWebhook> {
    const w = await this.find(id);
    if (!(await this.repo.delete(w._id))) throw notFound(codes.webhookNotFound, `No webhook ${id}`);
    return this.publicView(w);
  }

  // --- the delivery log ---

  private deliveryView(d: Delivery): PublicDelivery {
    const { claimedBy: _c, leaseUntil: _l, fence: _f, roundStart: _r, ...rest } = d;
    return rest;
  }

  async deliveries(id: string, query: Record<string, unknown>, maxOffset: number): Promise<{ data: PublicDelivery[]; meta: { total: number; limit: number; offset: number } }> {
    const w = await this.find(id);
    const { limit: rawLimit, offset: rawOffset, state, ...rest } = query;
    const unknown = Object.keys(rest);
    if (unknown.length) throw invalid(codes.queryUnknownParam, `Unknown query parameter: ${unknown.join(', ')}`, unknown.map((path) => ({ path, message: 'unknown query parameter' })));
    const int = (name: string, raw: unknown, def: number, min: number, max: number): number => {
      if (raw === undefined) return def;
      if (typeof raw !== 'string' || !/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
        throw invalid(codes.queryBadValue, `${name} must be a whole number from ${min} to ${max}`, [{ path: name, message: `must be ${min} to ${max}` }]);
      }
      return Number(raw);
    };
    const limit = int('limit', rawLimit, 20, 1, 100);
    const offset = int('offset', rawOffset, 0, 0, maxOffset);
    if (state !== undefined && !DELIVERY_STATES.includes(state as DeliveryState)) {
      throw invalid(codes.queryBadValue, `state must be one of ${DELIVERY_STATES.join(', ')}`, [{ path: 'state', message: 'unknown state' }]);
    }
    const { rows, total } = await this.repo.listDeliveries(w._id, state as DeliveryState | undefined, limit, offset);
    return { data: rows.map((d) => this.deliveryView(d)), meta: { total, limit, offset } };
  }

  async replay(id: string, deliveryId: string): Promise<PublicDelivery> {
    const w = await this.find(id);
    const d = deliveryId.length <= 100 ? await this.repo.getDelivery(deliveryId) : null;
    if (!d || d.webhook !== w._id) throw notFound(codes.webhookDeliveryNotFound, `No delivery ${deliveryId.slice(0, 100)} of this webhook`);
    const at = this.now().toISOString();
    if (d.state === 'sending' || !(await this.repo.replay(d, at))) {
      throw new CmsError('conflict', codes.webhookDeliveryBusy, 'The delivery is being sent right now; replay it once it has finished');
    }
    return this.deliveryView({ ...d, state: 'pending', nextAttemptAt: at, roundStart: d.attempts, replays: d.replays + 1, updatedAt: at });
  }

  // --- the dispatcher ---

  /** Creates the deliveries of changes not yet dispatched, sends what is due; returns what this process did. */
  async runOnce(): Promise<RunResult> {
    const all = await this.repo.list();
    if (!all.length) {
      // most sites have no webhooks: the runner then looks again only now and then (a webhook made
      // by this process wakes it at once; one made by another is picked up by that one meanwhile)
      this.quietUntil = performance.now() + IDLE_MS;
      return { created: 0, sent: 0 };
    }
    const created = await this.dispatch(all);
    const sent = await this.sendDue();
    const now = this.now().getTime();
    if (now - this.lastPrune > 3600_000) {
      this.lastPrune = now;
      await this.repo.prune(new Date(now - 7 * 86400_000).toISOString(), new Date(now - KEEP_MS).toISOString());
    }
    return { created, sent };
  }

  /** The event a change is for this webhook, or undefined when the webhook does not want it. */
  private eventFor(w: Webhook, c: Change): string | undefined {
    if (c.kind === 'entry') {
      if (w.types && (!c.type || !w.types.includes(c.type))) return undefined;
      const event = `entry.${c.action}`;
      return w.events.includes(event) || w.events.includes('entry.*') ? event : undefined;
    }
    if (c.kind === 'media') {
      const event = `media.${c.action}`;
      return w.events.includes(event) || w.events.includes('media.*') ? event : undefined;
    }
    return undefined;
  }

  private delivery(w: Webhook, id: string, event: string, seq: number, payload: Record<string, unknown>, lastSeq?: number): Delivery {
    const at = this.now().toISOString();
    return {
      _id: id,
      webhook: w._id,
      event,
      seq,
      ...(lastSeq !== undefined ? { lastSeq } : {}),
      payload: { id, event, ...payload },
      state: 'pending',
      attempts: 0,
      roundStart: 0,
      replays: 0,
      nextAttemptAt: at,
      createdAt: at,
      updatedAt: at,
      responses: [],
    };
  }

  /** Reads the change log past each enabled webhook's cursor and creates their deliveries. */
  async dispatch(all?: Webhook[]): Promise<number> {
    const hooks = (all ?? (await this.repo.list())).filter((w) => w.enabled);
    if (!hooks.length) return 0;
    const cursors = new Map<string, number>();
    for (const w of hooks) cursors.set(w._id, Math.max((await this.repo.cursor(w._id)) ?? 0, w.since));
    let created = 0;
    let from = Math.min(...cursors.values());
    // the log has no gaps, so when the change after the cursor is missing there is nothing new: a
    // lookup by _id says so without a range read (a scan on FerretDB). Were old changes ever
    // pruned past a cursor, the range read once a minute still finds what follows.
    if (!(await this.repo.changeExists(from + 1))) {
      const t = performance.now();
      if (t - this.lastRangeRead < 60_000) return created + (await this.debounceAll(hooks, cursors));
      this.lastRangeRead = t;
    }
    for (;;) {
      const batch = await this.changes.since(from, BATCH);
      for (const c of batch) {
        for (const w of hooks) {
          if (c._id <= cursors.get(w._id)!) continue;
          const event = this.eventFor(w, c);
          if (!event) continue;
          const id = `${w._id}-${c._id}`;
          const payload: Record<string, unknown> = c.kind === 'entry'
            ? { at: c.at, seq: c._id, type: c.type, entryId: c.id, action: c.action, version: c.version, locales: c.locales, public: c.public }
            : { at: c.at, seq: c._id, mediaId: c.id, action: c.action, locales: c.locales, public: c.public };
          if (await this.repo.createDelivery(this.delivery(w, id, event, c._id, payload))) created++;
        }
      }
      const last = batch[batch.length - 1];
      if (last) {
        // only after the deliveries exist: a process that dies before this reads them again
        for (const w of hooks) {
          if (last._id > cursors.get(w._id)!) {
            cursors.set(w._id, last._id);
            await this.repo.moveCursor(w._id, last._id);
          }
        }
        from = last._id;
      }
      if (batch.length < BATCH) break;
    }
    return created + (await this.debounceAll(hooks, cursors));
  }

  private async debounceAll(hooks: Webhook[], cursors: Map<string, number>): Promise<number> {
    let created = 0;
    for (const w of hooks) {
      if (w.events.includes('site.publish')) created += await this.debounce(w, cursors.get(w._id)!);
    }
    return created;
  }

  /**
   * `site.publish`: one delivery per burst of public changes. A burst opens with a public change
   * and takes the public changes that follow while each comes within the window of the one before
   * (and within five windows of the first); it closes when the next comes later than that, or when
   * the window has passed with none. Bursts are cut from the log alone (and the clock), so every
   * process cuts the same ones, and a burst's delivery id is its first change's.
   */
  private async debounce(w: Webhook, upTo: number): Promise<number> {
    const name = `site/${w._id}`;
    const windowMs = this.config.debounceSeconds * 1000;
    const maxMs = 5 * windowMs;
    let after = Math.max((await this.repo.cursor(name)) ?? 0, w.since);
    let created = 0;
    while (after < upTo) {
      const scanned = await this.repo.publicChanges(after, MAX_BURST);
      const rows = scanned.filter((c) => c.kind !== 'entry' || !w.types || (c.type !== undefined && w.types.includes(c.type)));
      if (!rows.length) {
        // nothing public (for this webhook) up to what was scanned
        const through = scanned.length === MAX_BURST ? scanned[scanned.length - 1]!._id : upTo;
        await this.repo.moveCursor(name, through);
        after = through;
        continue;
      }
      const first = rows[0]!;
      const start = Date.parse(first.at);
      let lastAt = start;
      let last = first;
      let count = 1;
      let closed = false;
      for (const c of rows.slice(1)) {
        const t = Date.parse(c.at);
        if (t - lastAt >= windowMs || t - start >= maxMs) {
          closed = true;
          break;
        }
        last = c;
        count++;
        lastAt = Math.max(lastAt, t);
      }
      const now = this.now().getTime();
      if (!closed) closed = scanned.length === MAX_BURST || now - lastAt >= windowMs || now - start >= maxMs;
      if (!closed) break;
      const id = `${w._id}-site-${first._id}`;
      const made = await this.repo.createDelivery(
        this.delivery(w, id, 'site.publish', first._id, { at: new Date(now).toISOString(), changes: count, firstSeq: first._id, lastSeq: last._id, from: first.at, to: last.at }, last._id),
      );
      let end = last._id;
      if (made) created++;
      else end = (await this.repo.getDelivery(id))?.lastSeq ?? end;
      await this.repo.moveCursor(name, end);
      after = end;
    }
    return created;
  }

  private backoff(roundAttempts: number): number {
    const full = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** Math.max(0, roundAttempts - 1));
    // equal jitter: half fixed, half random, so retries of many deliveries spread out
    return Math.round(full / 2 + Math.random() * (full / 2));
  }

  /** Claims and sends every due delivery. */
  async sendDue(): Promise<number> {
    let sent = 0;
    const leaseMs = this.config.timeoutMs + 60_000;
    const worker = async () => {
      for (;;) {
        const d = await this.repo.claim(this.now(), leaseMs, this.runner);
        if (!d) return;
        await this.deliver(d);
        sent++;
      }
    };
    await Promise.all(Array.from({ length: SENDERS }, worker));
    return sent;
  }

  private async deliver(d: Delivery): Promise<void> {
    const w = await this.repo.get(d.webhook);
    const started = this.now();
    let result: SendResult;
    if (!w) result = { status: 0, ms: 0, error: 'the webhook was deleted' };
    else if (!w.enabled) result = { status: 0, ms: 0, error: 'the webhook is disabled' };
    else result = await this.send(w, d, started);
    const response: DeliveryResponse = { at: started.toISOString(), status: result.status, ms: result.ms, ...(result.error ? { error: result.error } : {}) };
    const ok = result.status >= 200 && result.status < 300;
    const round = d.attempts - d.roundStart;
    const done = ok || !w || !w.enabled || round >= this.config.maxAttempts;
    const at = this.now();
    await this.repo.finish(
      d,
      response,
      done ? { state: ok ? 'succeeded' : 'failed' } : { state: 'pending', nextAttemptAt: new Date(at.getTime() + this.backoff(round)).toISOString() },
      at.toISOString(),
    );
  }

  /** POSTs the delivery, signed; never follows redirects. */
  async send(w: Webhook, d: Delivery, at: Date): Promise<SendResult> {
    const body = JSON.stringify(d.payload);
    const timestamp = Math.floor(at.getTime() / 1000);
    const started = performance.now();
    const ms = () => Math.round(performance.now() - started);
    const url = new URL(w.url);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // a literal address is not looked up, so it is checked here; names are checked at connection
    const why = isIP(host) ? refusal(host, this.config) : undefined;
    if (why) return { status: 0, ms: 0, error: `refused: ${why}` };
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<SendResult>((resolve) => {
      let settled = false;
      const settle = (r: SendResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const req = request(
        url,
        {
          method: 'POST',
          agent: false,
          lookup: guardedLookup(this.config),
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': 'cms-webhooks/1',
            'x-cms-webhook-id': d._id,
            'x-cms-event': d.event,
            'x-cms-timestamp': String(timestamp),
            'x-cms-signature': signature(w.secret, timestamp, body),
          },
        },
        (res: IncomingMessage) => {
          const status = res.statusCode ?? 0;
          // the body is not kept: read and drop it, up to a point
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > 65536) res.destroy();
          });
          const end = () => {
            const error = status >= 300 && status < 400 ? `redirect to ${String(res.headers.location ?? '(none)').slice(0, 200)} not followed` : status >= 400 ? `HTTP ${status}` : undefined;
            settle({ status, ms: ms(), ...(error ? { error } : {}) });
            req.destroy();
          };
          res.on('end', end);
          res.on('close', end);
          res.on('error', end);
        },
      );
      const timer = setTimeout(() => {
        settle({ status: 0, ms: ms(), error: `timed out after ${this.config.timeoutMs} ms` });
        req.destroy();
      }, this.config.timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        const message = err instanceof RefusedAddress ? `refused: ${err.message}` : `${err.code ?? 'error'}: ${err.message}`.slice(0, 300);
        settle({ status: 0, ms: ms(), error: message });
      });
      req.end(body);
    });
  }

  /** Runs the dispatcher now, then every `ms`; returns what stops it. */
  start(ms: number, log: (err: unknown) => void): () => Promise<void> {
    let stopped = false;
    let busy = false;
    let running: Promise<unknown> = Promise.resolve();
    const tick = () => {
      if (busy || stopped || performance.now() < this.quietUntil) return;
      busy = true;
      running = this.runOnce().catch(log).finally(() => (busy = false));
    };
    tick();
    const timer = ms > 0 ? setInterval(tick, ms) : undefined;
    timer?.unref();
    return async () => {
      stopped = true;
      if (timer) clearInterval(timer);
      await running;
    };
  }
}

/** Builds the service, decorates `app.webhooks`, and runs the dispatcher while the app is up (unless pollMs is 0). */
export async function setupWebhooks(app: FastifyInstance, opts: { config: WebhookConfig; registry: ContentTypeRegistry; changes: ChangeLog; now: Clock }): Promise<WebhooksService> {
  const repo = new WebhooksRepository(app.mongo.db);
  await repo.ensureIndexes();
  const service = new WebhooksService(repo, opts.registry, opts.changes, opts.config, opts.now);
  app.decorate('webhooks', service);
  if (opts.config.pollMs > 0) {
    let stop: (() => Promise<void>) | undefined;
    app.addHook('onReady', async () => {
      stop = service.start(opts.config.pollMs, (err) => app.log.warn({ err }, 'webhook dispatch failed'));
    });
    app.addHook('onClose', async () => {
      await stop?.();
    });
  }
  return service;
}
