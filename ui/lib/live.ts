import { ref, shallowReactive, shallowRef, watch, type ShallowRef } from 'vue'
import { get, sessionEnded } from './api'
import { language } from './i18n'

/** A VM as GET /api/vms shows it. */
export interface Vm {
  id: string
  kind: 'seat' | 'maintenance' | 'manual'
  lab?: string
  seat?: number
  profile: string
  version?: number
  /** The version it should run: a seat on another one is behind. */
  currentVersion?: number
  state: 'stopped' | 'starting' | 'running' | 'stopping' | 'failed'
  qemuState?: string
  pid?: number
  host: string
  startedAt?: string
  error?: string
  failures: number
  retryAt?: string
  held: boolean
  connected: boolean
  terminal?: string
  connectedSince?: string
  consoles: number
  lastExit?: { at: string; reason: string }
  /** Running and its service answers the probe: a terminal may be given it. */
  ready: boolean
  readySince?: string
  /** Why it looks broken (silent after it answered, a monitor that does not answer). */
  unhealthy?: string
}

const CHANGE_KINDS = ['labs', 'profiles', 'images', 'terminals', 'clients', 'users', 'pending-terminals'] as const
export type ChangeKind = (typeof CHANGE_KINDS)[number]
/** `live`: the stream is up; `polling`: no stream on this server, GET /api/vms every 2 s; `down`: neither answers. */
export type LiveStatus = 'connecting' | 'live' | 'polling' | 'down'

const POLL_MS = 2000

/**
 * The one live store of a tab: every VM by id, each in its own ref so an update re-renders only
 * the seats that changed. Updates are queued and applied once per animation frame (one render per
 * batch, at most CHANGES_PER_FRAME changed VMs). A VM goes only when the server says so (a full
 * list or a removal), never on an error.
 */
export const vms = shallowReactive(new Map<string, ShallowRef<Vm>>())
export const status = ref<LiveStatus>('connecting')
/** The newest event-log entries the stream pushed, newest first (at most 100). */
export const events = shallowRef<Record<string, unknown>[]>([])

/** Jobs (clones) as the stream last reported them, by id; a page loads the list first. */
export const jobs = shallowReactive(new Map<string, Record<string, any>>())

const changeListeners = new Set<(kind: ChangeKind, id: string) => void>()
/** Calls `fn` when a record changes elsewhere (refetch it); returns the unsubscribe function. */
export function onChange(fn: (kind: ChangeKind, id: string) => void) {
  changeListeners.add(fn)
  return () => changeListeners.delete(fn)
}

const pending = new Map<string, Vm | null>()
let pendingFull: Set<string> | undefined
let scheduled = false

function schedule() {
  if (scheduled) return
  scheduled = true
  const flush = () => {
    scheduled = false
    apply()
  }
  // rAF batches a burst into one frame; a hidden tab gets no frames, so a microtask there.
  if (typeof document !== 'undefined' && document.visibilityState === 'visible') requestAnimationFrame(flush)
  else queueMicrotask(flush)
}

function same(a: Vm, b: Vm) {
  return JSON.stringify(a) === JSON.stringify(b)
}

// A burst of 500 changes re-rendered in one frame is a long task (> 100 ms): at most this many
// changed VMs a frame, the rest in the next ones. New VMs do not count: the dashboard shows new
// cards a chunk per frame itself, and one frame adding them all sorts its labs once, not five times.
const CHANGES_PER_FRAME = 100

function apply() {
  const full = pendingFull
  pendingFull = undefined
  if (full) for (const id of [...vms.keys()]) if (!full.has(id) && !pending.has(id)) vms.delete(id)
  let changes = 0
  for (const [id, vm] of pending) {
    if (changes === CHANGES_PER_FRAME) break
    pending.delete(id)
    const cur = vms.get(id)
    if (!vm) vms.delete(id)
    else if (!cur) vms.set(id, shallowRef(vm))
    else if (!same(cur.value, vm)) {
      cur.value = vm
      changes++
    }
  }
  if (pending.size) schedule()
}

/** Feeds the store (the stream, a poll, or an action's answer). `full`: the list is authoritative. */
export function receive(list: Vm[], full = false) {
  if (full) {
    pendingFull = new Set(list.map((v) => v.id))
    // Still queued from an earlier burst but not in this newer list: gone.
    for (const id of pending.keys()) if (!pendingFull.has(id)) pending.delete(id)
  }
  for (const vm of list) pending.set(vm.id, vm)
  schedule()
}

export function removed(id: string) {
  pending.set(id, null)
  schedule()
}

let source: EventSource | undefined
let poller: ReturnType<typeof setInterval> | undefined
let started = false

async function poll() {
  try {
    receive(await get<Vm[]>('/api/vms'), true)
    status.value = 'polling'
  } catch {
    status.value = 'down'
  }
}

function startPolling() {
  source?.close()
  source = undefined
  if (poller) return
  void poll()
  poller = setInterval(poll, POLL_MS)
}

const parse = (e: MessageEvent) => JSON.parse(e.data as string)

function openStream() {
  // EventSource cannot set Accept-Language: the language the VMs' messages come in goes in the query.
  const es = new EventSource(`/api/stream?lang=${language.value}`)
  source = es
  es.addEventListener('open', () => (status.value = 'live'))
  es.addEventListener('vms', (e) => {
    receive(parse(e as MessageEvent), true)
    // Sent on every (re)connection: whatever changed while no stream was open is fetched again.
    for (const kind of CHANGE_KINDS) for (const fn of changeListeners) fn(kind, '')
  })
  es.addEventListener('vm', (e) => receive([parse(e as MessageEvent)]))
  es.addEventListener('vm-removed', (e) => removed(parse(e as MessageEvent).id))
  es.addEventListener('event', (e) => (events.value = [parse(e as MessageEvent), ...events.value].slice(0, 100)))
  es.addEventListener('job', (e) => {
    const job = parse(e as MessageEvent)
    jobs.set(job.id, job)
  })
  es.addEventListener('change', (e) => {
    const { kind, id } = parse(e as MessageEvent)
    for (const fn of changeListeners) fn(kind, id)
  })
  es.addEventListener('error', async () => {
    // EventSource does not say why: ask once. No stream route (404) means poll; a 401 ends the
    // session (the API client sends the user to sign-in); anything else, EventSource retries.
    const ctrl = new AbortController()
    const res = await fetch(`/api/stream?lang=${language.value}`, { signal: ctrl.signal, headers: { accept: 'text/event-stream' } }).catch(() => undefined)
    ctrl.abort()
    if (source !== es) return
    if (res?.status === 404) startPolling()
    else if (res?.status === 401) {
      stop()
      sessionEnded()
    } else status.value = 'down'
  })
}

// The VMs' messages (errors, exit reasons) come translated: fetch them again in a new language.
watch(language, () => {
  if (!started) return
  if (poller) void poll()
  else {
    source?.close()
    openStream()
  }
})

/** Opens the tab's live connection (once; called by the signed-in layout). */
export function start() {
  if (started) return
  started = true
  status.value = 'connecting'
  openStream()
}

/** Closes it (sign-out, session expiry) and forgets every VM. */
export function stop() {
  started = false
  source?.close()
  source = undefined
  if (poller) clearInterval(poller)
  poller = undefined
  vms.clear()
}
