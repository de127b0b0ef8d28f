import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminClient } from '../../helpers/client'
import { vmPaths } from '#server/qemu/paths'
import {
  alive, brief, cmdline, drives, listVms, makeLab, processOf, qemuProcesses, seatsOf, setLabSize, startVmServer,
  toolQmp, type Vm, type VmWorld, waitFor,
} from './vm-helpers'

// A lab's seats as real QEMU processes: convergence, crash of a seat, crash of LabVirt itself.

let w: VmWorld
beforeAll(async () => {
  w = await startVmServer()
})
afterAll(() => w?.dispose())

/** The lab's seats once all `n` run, each with a live pid whose cmdline names its pidfile. */
async function seatsRunning(lab: string, n: number, ms: number): Promise<Vm[]> {
  return waitFor(`${n} seats of ${lab} running`, ms, async (see) => {
    const seats = seatsOf(await listVms(w.api), lab)
    see(brief(seats))
    const ok = seats.length === n && seats.every((s) => s.state === 'running' && s.pid && processOf(w.runDir, s.id).some((p) => p.pid === s.pid))
    return ok && seats
  })
}

describe('a lab of seats', () => {
  it('converges to 3 QEMU processes on snapshot disks, and size 3 -> 1 stops two', async () => {
    const { lab, image } = await makeLab(w.api, 3)
    const seats = await seatsRunning(lab.id, 3, 20_000)

    expect(seats.map((s) => s.id)).toEqual([1, 2, 3].map((n) => `${lab.id}-${n}`))
    expect(new Set(seats.map((s) => s.pid)).size).toBe(3)
    for (const s of seats) {
      const argv = cmdline(s.pid!)!
      expect(argv, s.id).toContain(vmPaths(w.runDir, s.id).pidfile)
      // The one disk is the lab's image, opened with snapshot=on: guest writes never reach it.
      const ds = drives(argv)
      expect(ds, s.id).toHaveLength(1)
      expect(ds[0], s.id).toContain(`file=${w.imagesDir}/${image.file}`)
      expect(ds[0]!.split(','), s.id).toContain('snapshot=on')
    }
    expect(qemuProcesses(w.runDir).filter((p) => p.argv.some((a) => a.includes(`/${lab.id}-`)))).toHaveLength(3)

    const keep = seats[0]!
    // Watch seat 3 from its tool socket: how it is stopped.
    const q = await toolQmp(w.runDir, seats[2]!.id)
    const events: string[] = []
    q.on('event', (e) => events.push(e.event === 'SHUTDOWN' ? `SHUTDOWN:${(e.data as { reason: string }).reason}` : e.event))
    await setLabSize(w.api, lab.id, 1)
    // Powerdown first: the blank guest ignores ACPI, so QEMU quits after LABVIRT_POWERDOWN_TIMEOUT (1 s).
    await waitFor('seats 2 and 3 gone', 15_000, async (see) => {
      const vms = seatsOf(await listVms(w.api), lab.id)
      see(`${brief(vms)}; alive: ${seats.slice(1).map((s) => `${s.pid}=${alive(s.pid!)}`)}`)
      return seats.slice(1).every((s) => !alive(s.pid!)) && vms.every((v) => v.seat === 1 || v.state !== 'running')
    })
    // The process is gone, but its last events may still sit unread in our socket: read to the end.
    await Promise.race([q.closed, sleep(5000)])
    q.close()
    // ACPI first; the blank guest ignores it, so QEMU is quit through QMP after the timeout.
    expect(events.filter((e) => e === 'POWERDOWN' || e.startsWith('SHUTDOWN'))).toEqual(['POWERDOWN', 'SHUTDOWN:host-qmp-quit'])
    // They are not started again, and seat 1 was never touched.
    await sleep(2500)
    const after = seatsOf(await listVms(w.api), lab.id)
    expect(after.filter((v) => v.state === 'running').map((v) => [v.id, v.pid])).toEqual([[keep.id, keep.pid]])
    expect(processOf(w.runDir, `${lab.id}-2`)).toEqual([])
    expect(processOf(w.runDir, `${lab.id}-3`)).toEqual([])
    expect(alive(keep.pid!)).toBe(true)
  })

  it('kill -9 of a seat: running again within 2 s, with a new pid', async () => {
    const { lab } = await makeLab(w.api, 2)
    const seats = await seatsRunning(lab.id, 2, 20_000)
    const victim = seats[1]!
    const other = seats[0]!
    process.kill(victim.pid!, 'SIGKILL')
    const back = await waitFor(`${victim.id} running again after kill -9 of ${victim.pid}`, 2_000, async (see) => {
      const vm = (await listVms(w.api)).find((v) => v.id === victim.id)
      see(vm && brief([vm]))
      return vm && vm.state === 'running' && vm.pid && vm.pid !== victim.pid && processOf(w.runDir, vm.id).some((p) => p.pid === vm.pid) ? vm : undefined
    }, 20)
    expect(alive(victim.pid!)).toBe(false)
    expect(back.pid).not.toBe(victim.pid)
    // A death after a healthy run is not a failed start, and the other seat is untouched.
    expect(back.error).toBeUndefined()
    expect((await listVms(w.api)).find((v) => v.id === other.id)?.pid).toBe(other.pid)
  })

  it("a change of the profile's hardware restarts its seats on the new command line", async () => {
    const { lab, profile } = await makeLab(w.api, 2)
    const before = await seatsRunning(lab.id, 2, 20_000)
    const p = (await w.api.get(`/api/profiles/${profile.id}`)).body
    expect((await w.api.put(`/api/profiles/${profile.id}`, { ...p, memoryMiB: 96 })).status).toBe(200)
    const after = await waitFor('both seats restarted with -m 96', 20_000, async (see) => {
      const seats = seatsOf(await listVms(w.api), lab.id)
      see(brief(seats))
      const ok = seats.length === 2 && seats.every((s) => s.state === 'running' && s.pid && !before.some((b) => b.pid === s.pid) && cmdline(s.pid)?.join(' ').includes('-m 96'))
      return ok && seats
    })
    // A hardware change is no new version of the disk.
    expect(after.map((s) => s.version)).toEqual([1, 1])
  })

  it("a seat that exits on its own is restarted and shows why it exited, from QEMU's own log", async () => {
    const { lab } = await makeLab(w.api, 1)
    const [seat] = await seatsRunning(lab.id, 1, 20_000)
    // SIGTERM from outside LabVirt: QEMU logs "terminating on signal 15" to its -D log.
    process.kill(seat!.pid!, 'SIGTERM')
    const back = await waitFor(`${seat!.id} running again with lastExit`, 10_000, async (see) => {
      const vm = (await listVms(w.api)).find((v) => v.id === seat!.id)
      see(vm && `${brief([vm])} lastExit=${JSON.stringify((vm as { lastExit?: unknown }).lastExit)}`)
      return vm && vm.state === 'running' && vm.pid !== seat!.pid && (vm as { lastExit?: unknown }).lastExit ? vm : undefined
    })
    expect((back as { lastExit?: { reason: string } }).lastExit!.reason).toMatch(/terminating on signal 15/)
  })

  it('kill -9 of LabVirt with seats running: a new server adopts the same pids, no duplicate QEMU', async () => {
    const { lab } = await makeLab(w.api, 3)
    const seats = await seatsRunning(lab.id, 3, 20_000)
    const before = new Map(seats.map((s) => [s.id, s.pid]))
    const allBefore = qemuProcesses(w.runDir).map((p) => p.pid).sort()

    await w.server.kill()
    // VMs are daemonized: they outlive LabVirt.
    for (const s of seats) expect(alive(s.pid!), `${s.id} survives the server`).toBe(true)
    await w.server.restart()
    w.api = await adminClient(w.server.url)
    const adopted = await seatsRunning(lab.id, 3, 10_000)
    expect(new Map(adopted.map((s) => [s.id, s.pid]))).toEqual(before)

    // Several ticks later (interval 1 s): still exactly the processes there were, none started twice.
    for (let i = 0; i < 4; i++) {
      await sleep(1000)
      const now = qemuProcesses(w.runDir).map((p) => p.pid).sort()
      expect(now, `QEMU processes naming the run dir, ${i + 1} s after the restart`).toEqual(allBefore)
      for (const s of seats) expect(processOf(w.runDir, s.id).map((p) => p.pid), s.id).toEqual([s.pid])
    }
    const final = seatsOf(await listVms(w.api), lab.id)
    expect(final.map((s) => [s.id, s.state, s.pid])).toEqual(seats.map((s) => [s.id, 'running', s.pid]))
    // The new server holds their monitors again: a QMP command through it reaches the same process.
    const reset = await w.api.post(`/api/vms/${seats[0]!.id}/actions`, { action: 'reset' })
    expect(reset.status, JSON.stringify(reset.body)).toBe(200)
    expect(reset.body.pid).toBe(seats[0]!.pid)
  })
})
