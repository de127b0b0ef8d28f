import type { EventStream } from 'h3'
import type { Context } from '../context'
import type { Reconciler } from '../reconcile'
import { EVENTS, type StoreChange } from '#storage'
import { type Language } from '../i18n'
import { listVms, type VmView } from '../vms'
import { stillSignedIn } from '../auth/sessions'
import { eventView } from '../events'
import { jobView } from '../jobs/index'

/** Changes within this window after a batch go out together: a cold lab is a few batches, not hundreds of messages. */
export const BATCH_MS = 100
export const PING_MS = 20_000

/** Collections whose writes the stream reports as `change`, under the name the API uses for them. */
const CHANGE_KINDS: Record<string, string> = {
  labs: 'labs', profiles: 'profiles', images: 'images', terminals: 'terminals',
  clients: 'clients', users: 'users', pending: 'pending-terminals',
}
/** Collections a VM's view is computed from (its status, who is on it, holds, desired state). */
const VM_INPUTS = new Set(['vms', 'connections', 'readiness', 'holds', 'labs', 'profiles', 'images', 'manual', 'maintenance', 'versions'])

interface Subscriber {
  stream: EventStream
  lang: Language
  token: string | undefined
}

/**
 * The one producer of `GET /api/stream` in this process: it listens to the store's change signal
 * (this host's writes and, on Redis, every other host's), batches what changed, and fans the
 * result out to every open stream. VM views are diffed against what was last sent, per language,
 * so a stream only hears of a VM whose view really changed.
 */
export class LiveStream {
  private subscribers = new Set<Subscriber>()
  /** Per language: each VM's view as last sent, as JSON. */
  private sent = new Map<Language, Map<string, string>>()
  private timer: NodeJS.Timeout | undefined
  private ping: NodeJS.Timeout | undefined
  private vmsDirty = false
  private pending = false
  private sessionsDirty = false
  private kinds = new Map<string, { kind: string; id: string }>()
  private events: string[] = []
  private jobs = new Set<string>()
  /** Sends one after another, so a stream never gets an older view after a newer one. */
  private chain: Promise<void> = Promise.resolve()
  private onChange = (c: StoreChange) => this.note(c)

  constructor(private ctx: Context, private reconciler: Reconciler) {}

  /** Adds a stream: it gets `vms` (every VM's view) first, then the changes. */
  add(stream: EventStream, lang: Language, token: string | undefined) {
    const sub: Subscriber = { stream, lang, token }
    if (this.subscribers.size === 0) this.start()
    this.subscribers.add(sub)
    stream.onClosed(() => this.remove(sub))
    this.enqueue(async () => {
      const vms = await this.views(lang)
      await stream.push({ event: 'vms', data: JSON.stringify(vms) })
    })
  }

  private remove(sub: Subscriber) {
    if (!this.subscribers.delete(sub)) return
    void sub.stream.close().catch(() => {})
    if (this.subscribers.size === 0) this.stop()
  }

  private start() {
    this.ctx.store.kv.changes.on('change', this.onChange)
    this.ping = setInterval(() => this.enqueue(() => this.pingAll()), PING_MS)
    this.ping.unref()
  }

  private stop() {
    this.ctx.store.kv.changes.off('change', this.onChange)
    clearInterval(this.ping)
    clearTimeout(this.timer)
    this.timer = undefined
    this.pending = false
    this.sent.clear()
  }

  private note(c: StoreChange) {
    if (c.collection === '*') this.vmsDirty = this.sessionsDirty = true
    if (VM_INPUTS.has(c.collection)) this.vmsDirty = true
    const kind = CHANGE_KINDS[c.collection]
    if (kind) this.kinds.set(`${kind}:${c.id}`, { kind, id: c.id })
    if (c.collection === EVENTS && !c.deleted) this.events.push(c.id)
    if (c.collection === 'jobs' && !c.deleted) this.jobs.add(c.id)
    // Signed out, deleted, or a role changed (which ends the user's sessions): look at once.
    if (c.collection === 'sessions' || c.collection === 'users') this.sessionsDirty = true
    this.pending = true
    this.kick()
  }

  // The first change after a quiet spell goes out at once, later ones at most every BATCH_MS: a
  // VM killed and restarted within one batch still shows its death first.
  private kick() {
    if (this.timer || !this.pending) return
    this.pending = false
    this.enqueue(() => this.flush())
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.kick()
    }, BATCH_MS)
  }

  private enqueue(job: () => Promise<void>) {
    this.chain = this.chain.then(job).catch((err) => console.error('[labvirt] live stream:', (err as Error).message))
  }

  private async views(lang: Language): Promise<VmView[]> {
    const vms = await listVms(this.ctx, this.reconciler, lang)
    let sent = this.sent.get(lang)
    if (!sent) this.sent.set(lang, (sent = new Map(vms.map((v) => [v.id, JSON.stringify(v)]))))
    return vms
  }

  private async flush() {
    const { vmsDirty, sessionsDirty } = this
    const kinds = [...this.kinds.values()]
    const eventCursors = this.events
    this.vmsDirty = this.sessionsDirty = false
    this.kinds = new Map()
    this.events = []
    const jobIds = [...this.jobs]
    this.jobs = new Set()
    if (sessionsDirty) await this.dropSignedOut()
    const messages = new Map<Language, { event: string; data: string }[]>()
    for (const lang of new Set([...this.subscribers].map((s) => s.lang))) messages.set(lang, [])
    if (vmsDirty) {
      for (const [lang, out] of messages) {
        const sent = this.sent.get(lang) ?? new Map<string, string>()
        this.sent.set(lang, sent)
        const vms = await listVms(this.ctx, this.reconciler, lang)
        const seen = new Set<string>()
        for (const vm of vms) {
          seen.add(vm.id)
          const json = JSON.stringify(vm)
          if (sent.get(vm.id) === json) continue
          sent.set(vm.id, json)
          out.push({ event: 'vm', data: json })
        }
        for (const id of [...sent.keys()]) {
          if (seen.has(id)) continue
          sent.delete(id)
          out.push({ event: 'vm-removed', data: JSON.stringify({ id }) })
        }
      }
    }
    const events = await this.ctx.store.events.records(eventCursors)
    const jobs = (await Promise.all(jobIds.map((id) => this.ctx.store.jobs.get(id)))).filter((j) => j !== null)
    for (const [lang, out] of messages) {
      for (const j of jobs) out.push({ event: 'job', data: JSON.stringify(jobView(j, lang)) })
      for (const c of kinds) out.push({ event: 'change', data: JSON.stringify(c) })
      for (const e of events) out.push({ event: 'event', data: JSON.stringify(eventView(e, lang)) })
    }
    await Promise.all([...this.subscribers].map(async (s) => {
      const out = messages.get(s.lang)
      if (out?.length) await s.stream.push(out).catch(() => this.remove(s))
    }))
  }

  private async dropSignedOut() {
    await Promise.all([...this.subscribers].map(async (s) => {
      if (!(await stillSignedIn(this.ctx.store, s.token))) this.remove(s)
    }))
  }

  private async pingAll() {
    await this.dropSignedOut()
    const at = new Date().toISOString()
    await Promise.all([...this.subscribers].map((s) => s.stream.push({ event: 'ping', data: JSON.stringify({ at }) }).catch(() => this.remove(s))))
  }
}

let instance: LiveStream | undefined

export function useLiveStream(ctx: Context, reconciler: Reconciler): LiveStream {
  instance ??= new LiveStream(ctx, reconciler)
  return instance
}
