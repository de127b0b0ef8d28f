import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it, vi } from 'vitest'
import { openKv, repositories, type Repositories } from '#storage'
import { readConfig } from '#server/config'
import { Reconciler, type TickSummary } from '#server/reconcile/index'

// How passes run once they go through a task runner like Nitro's (a second caller gets the run in
// progress): the reconciler's rules still hold. Real passes on an empty file store; each pass is
// held at its start until the test lets it go, so "in progress" is a fact, not a timing.

let dir: string
let store: Repositories
let r: Reconciler
/** Passes begun, in order; each waits for its `go()`. */
let begun: { go: () => void }[]

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'labvirt-runner-'))
  store = repositories(await openKv({ dir }))
  r = new Reconciler({ config: readConfig({ LABVIRT_HOST_ID: 'h', LABVIRT_DATA_DIR: dir, LABVIRT_RECONCILE_INTERVAL: '3600' }), store })
  begun = []
  const pass = (Reconciler.prototype as unknown as { pass: () => Promise<TickSummary> }).pass
  vi.spyOn(r as unknown as { pass: () => Promise<TickSummary> }, 'pass').mockImplementation(async function (this: Reconciler) {
    // `ms` says which pass it was (1 for the first to begin).
    const n = begun.length + 1
    const summary = pass.call(this).then((s) => ({ ...s, ms: n }))
    await new Promise<void>((go) => begun.push({ go }))
    return summary
  })
})
afterEach(async () => {
  for (const b of begun) b.go()
  await r.stop()
  await store.kv.close()
  await rm(dir, { recursive: true, force: true })
})

/** Nitro's runTask, as far as this goes: one run per name; a caller meanwhile gets the run in progress. */
function taskRunner(task: () => Promise<TickSummary>) {
  let inProgress: Promise<TickSummary> | undefined
  return async () => {
    if (inProgress) return inProgress
    await Promise.resolve() // the task module's import
    inProgress = task()
    try {
      return await inProgress
    } finally {
      inProgress = undefined
    }
  }
}

const until = async (ok: () => boolean) => vi.waitFor(() => expect(ok()).toBe(true))

it('tick() while another caller of the task runs a pass waits for a pass that begins after it', async () => {
  const runTask = taskRunner(() => r.runPass())
  r.start(runTask)
  await until(() => begun.length === 1)
  begun[0]!.go()
  await until(() => begun.length === 1 && !(r as unknown as { executing?: unknown }).executing)

  // Someone else runs the task (an admin's run-now): a pass begins.
  const other = runTask()
  await until(() => begun.length === 2)
  const mine = r.tick()
  begun[1]!.go()
  expect((await other).ms).toBe(2)
  await until(() => begun.length === 3)
  begun[2]!.go()
  expect((await mine).ms).toBe(3)
})

it('tickAfterWrite() shares the running pass only when no store change was heard after it began', async () => {
  r.start(taskRunner(() => r.runPass()))
  // The first pass takes the reconciler's lease (a write of its own).
  await until(() => begun.length === 1)
  begun[0]!.go()
  await until(() => !(r as unknown as { executing?: unknown }).executing)

  const running = r.tick()
  await until(() => begun.length === 2)
  const shared = r.tickAfterWrite()
  await store.holds.upsert('aula-1', () => ({ by: 'admin' }))
  // The write set off a pass of its own (queued behind the running one); one asked for now is that one.
  const after = r.tickAfterWrite()
  const next = r.tick()
  begun[1]!.go()
  expect((await running).ms).toBe(2)
  expect((await shared).ms).toBe(2)
  await until(() => begun.length === 3)
  begun[2]!.go()
  expect((await after).ms).toBe(3)
  expect((await next).ms).toBe(3)
})

it('without a runner, passes run directly', async () => {
  const pass = r.tick()
  await until(() => begun.length === 1)
  begun[0]!.go()
  expect((await pass).ms).toBe(1)
})
