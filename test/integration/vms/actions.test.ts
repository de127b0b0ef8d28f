import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { QmpClient, QmpEvent } from '#server/qemu/qmp/index'
import {
  acrossPasses, action, alive, brief, getVm, listVms, makeLab, processOf, startVmServer, toolQmp, type Vm, type VmWorld, waitFor,
} from './vm-helpers'

// An admin's actions on one seat: POST /api/vms/:id/actions.

let w: VmWorld
let seat: string
beforeAll(async () => {
  w = await startVmServer()
  const { lab } = await makeLab(w.api, 1, 'act')
  seat = `${lab.id}-1`
})
afterAll(() => w?.dispose())
// Each test starts from a running seat: a failed one must not leave it held down for the next.
afterEach(async () => {
  await w.api.post(`/api/vms/${seat}/actions`, { action: 'start' })
})

async function running(ms = 15_000, not?: number): Promise<Vm> {
  return waitFor(`${seat} running${not ? ` with a pid other than ${not}` : ''}`, ms, async (see) => {
    const vm = await getVm(w.api, seat)
    see(vm ? brief([vm]) : 'not listed')
    return vm?.state === 'running' && vm.pid && vm.pid !== not && processOf(w.runDir, seat).some((p) => p.pid === vm.pid) ? vm : undefined
  })
}

/** Checks across three reconcile passes that the seat stays down and held. */
function staysDown() {
  return acrossPasses(w.server, 3, async () => {
    const vm = (await getVm(w.api, seat))!
    expect(vm.state, `${seat} held down`).toBe('stopped')
    expect(vm.held).toBe(true)
    expect(vm.pid).toBeUndefined()
    expect(processOf(w.runDir, seat)).toEqual([])
  })
}

/** Collects the events a tool QMP connection sees until `close()`. */
function record(q: QmpClient): QmpEvent[] {
  const events: QmpEvent[] = []
  q.on('event', (e) => events.push(e))
  return events
}

describe('VM actions', () => {
  it('stop holds the seat down across ticks; start brings it back', async () => {
    const vm = await running()
    const stopped = await action(w.api, seat, 'stop')
    expect(stopped.state).toBe('stopped')
    expect(stopped.held).toBe(true)
    expect(alive(vm.pid!)).toBe(false)
    await staysDown()

    // The answer comes from a pass that saw the hold gone: the seat runs already.
    const started = await action(w.api, seat, 'start')
    expect(started.held).toBe(false)
    expect(started.state).toBe('running')
    expect(alive(started.pid!)).toBe(true)
    const back = await running(10_000, vm.pid)
    expect(back.held).toBe(false)
  })

  it('reset keeps the process (same pid) and resets the guest', async () => {
    const vm = await running()
    const q = await toolQmp(w.runDir, seat)
    try {
      const reset = q.waitForEvent('RESET', { timeoutMs: 5000 })
      const after = await action(w.api, seat, 'reset')
      const ev = await reset
      expect(ev.data).toMatchObject({ guest: false })
      expect(after.state).toBe('running')
      expect(after.pid).toBe(vm.pid)
    } finally {
      q.close()
    }
    // The next passes keep the same process (a reset is no death).
    await acrossPasses(w.server, 2, async () => {
      expect((await getVm(w.api, seat))?.pid).toBe(vm.pid)
      expect(alive(vm.pid!)).toBe(true)
    })
  })

  it('powerdown asks the guest (ACPI), then quits after LABVIRT_POWERDOWN_TIMEOUT; the seat stays down', async () => {
    const vm = await running()
    const q = await toolQmp(w.runDir, seat)
    const events = record(q)
    const t0 = performance.now()
    const res = await action(w.api, seat, 'powerdown')
    const took = performance.now() - t0
    // QEMU is gone, but its last events may still sit unread in our socket: read to the end.
    await Promise.race([q.closed, sleep(5000)])
    q.close()
    expect(res.state).toBe('stopped')
    expect(alive(vm.pid!)).toBe(false)
    const names = events.map((e) => e.event)
    // The guest (no OS) ignores the ACPI request: QEMU is quit through QMP after the timeout.
    expect(names).toContain('POWERDOWN')
    expect(events.find((e) => e.event === 'SHUTDOWN')?.data).toMatchObject({ guest: false, reason: 'host-qmp-quit' })
    expect(names.indexOf('POWERDOWN')).toBeLessThan(names.indexOf('SHUTDOWN'))
    expect(took).toBeGreaterThanOrEqual(1000)
    expect(took).toBeLessThan(8000)
    await staysDown()
    await action(w.api, seat, 'start')
    await running(10_000, vm.pid)
  })

  it('kill is SIGKILL and holds the seat down', async () => {
    const vm = await running()
    const res = await action(w.api, seat, 'kill')
    expect(res.state).toBe('stopped')
    expect(alive(vm.pid!)).toBe(false)
    // Killed on purpose: not a failure.
    expect(res.error).toBeUndefined()
    expect(res.failures).toBe(0)
    await staysDown()
    await action(w.api, seat, 'start')
    await running(10_000, vm.pid)
  })

  it('restart gives a new process and keeps the seat desired', async () => {
    const vm = await running()
    await action(w.api, seat, 'restart')
    const back = await running(10_000, vm.pid)
    expect(back.held).toBe(false)
    expect(alive(vm.pid!)).toBe(false)
    expect(back.error).toBeUndefined()
  })

  it('refuses what cannot be done', async () => {
    expect((await w.api.post(`/api/vms/${seat}/actions`, { action: 'explode' })).status).toBe(400)
    expect((await w.api.post('/api/vms/nosuch-1/actions', { action: 'start' })).status).toBe(404)
    await action(w.api, seat, 'stop')
    const reset = await w.api.post(`/api/vms/${seat}/actions`, { action: 'reset' })
    expect(reset.status, JSON.stringify(reset.body)).toBe(409)
    await action(w.api, seat, 'start')
    await running()
    expect((await listVms(w.api)).filter((v) => v.id === seat)).toHaveLength(1)
  })
})
