import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiClient } from '../../helpers/client'
import { bodies, create, uniqueName } from '../../helpers/fixtures'
import { parseMetrics } from '../../helpers/prometheus'
import { tinyGuestProfile } from '../../helpers/tiny-guest'
import { brief, getVm, startVmServer, type VmWorld, waitFor } from '../vms/vm-helpers'

// Resource figures of a real QEMU seat (the tiny guest) and of this host: GET /api/vms/:id/stats,
// GET /api/hosts and the per-VM series of /metrics, sampled every second.

const MONITORING = 'https://munin.example.edu/lab/host-a/'

let w: VmWorld
let seat: string

interface Stats {
  id: string
  host: string
  range: string
  sampled: boolean
  last: { at: string; pid: number; cpuSeconds: number; rssBytes: number; disk?: { readBytes: number; writeBytes: number } } | null
  series: { t: number[]; cpu: (number | null)[]; rss: (number | null)[]; diskRead: (number | null)[]; netRx: (number | null)[] }
}

const stats = async (range = 'hour') => {
  const res = await w.api.get<Stats>(`/api/vms/${seat}/stats?range=${range}`)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body
}

beforeAll(async () => {
  w = await startVmServer({ LABVIRT_SAMPLE_INTERVAL: '1', LABVIRT_MONITORING_URL: MONITORING, LABVIRT_HOST_ID: 'host-a' })
  const { profile } = await tinyGuestProfile(w.api, w.imagesDir, 'res')
  const lab = await create(w.api, 'labs', { name: uniqueName('resl'), size: 1, max: 1, profiles: [profile.id], network: { mode: 'user' } })
  seat = `${lab.id}-1`
  await waitFor(`${seat} running`, 30_000, async (see) => {
    const vm = await getVm(w.api, seat)
    see(vm ? brief([vm]) : 'not listed')
    return vm?.state === 'running'
  })
}, 120_000)
afterAll(() => w?.dispose())

describe('GET /api/vms/:id/stats', () => {
  it('shows CPU and RSS of the running seat after two samples, and its disk reads rising as it boots again', async () => {
    const first = await waitFor('two samples with CPU', 20_000, async (see) => {
      const s = await stats()
      see(s)
      return s.series.cpu.some((x) => x! > 0) && s
    })
    expect(first.sampled).toBe(true)
    expect(first.host).toBe('host-a')
    expect(first.series.rss.at(-1)).toBeGreaterThan(1024 * 1024)
    expect(first.last!.rssBytes).toBeGreaterThan(1024 * 1024)
    const vm = await getVm(w.api, seat)
    expect(first.last!.pid).toBe(vm!.pid)
    // User-mode networking: the host has no counter for the guest's traffic.
    expect(first.series.netRx.every((x) => x === null)).toBe(true)

    const readAt = first.last!.disk!.readBytes
    expect(readAt).toBeGreaterThan(0)
    // The boot may be over by now: a reset boots the guest again, which reads its disk again.
    expect((await w.api.post(`/api/vms/${seat}/actions`, { action: 'reset' })).status).toBe(200)
    const later = await waitFor('disk reads rising', 30_000, async (see) => {
      const s = await stats()
      see(s.last)
      return s.last!.disk!.readBytes > readAt && s.series.diskRead.some((x) => x! > 0) && s
    })
    expect(later.last!.pid).toBe(first.last!.pid)
    expect(later.series.t.length).toBeGreaterThan(first.series.t.length)
  })

  it('keeps the day in minute averages', async () => {
    const day = await stats('day')
    expect(day.range).toBe('day')
    expect(day.series.t.length).toBeGreaterThanOrEqual(1)
    expect(day.series.t.every((t) => t % 60_000 === 0)).toBe(true)
  })

  it('answers 404 for an unknown VM and 400 for a bad range', async () => {
    const unknown = await w.api.get('/api/vms/nolab-9/stats')
    expect(unknown.status).toBe(404)
    const bad = await w.api.get(`/api/vms/${seat}/stats?range=week`)
    expect(bad.status).toBe(400)
    expect(bad.body.fields.map((f: { field: string }) => f.field)).toEqual(['range'])
    expect((await w.api.get(`/api/vms/${seat}/stats?range=hour&extra=1`)).status).toBe(400)
  })

  it('is readable by a viewer and not by anyone unsigned', async () => {
    const user = bodies.user()
    expect((await w.api.post('/api/users', user)).status).toBe(201)
    const viewer = await new ApiClient(w.server.url).login(user.username, user.password)
    expect((await viewer.get(`/api/vms/${seat}/stats`)).status).toBe(200)
    expect((await viewer.get('/api/hosts')).status).toBe(200)
    const anonymous = new ApiClient(w.server.url)
    expect((await anonymous.get(`/api/vms/${seat}/stats`)).status).toBe(401)
    expect((await anonymous.get('/api/hosts')).status).toBe(401)
  })
})

describe('GET /api/hosts', () => {
  it('lists this host with load, memory, disk and network figures, its history and its monitoring link', async () => {
    const host = await waitFor('this host with CPU figures', 10_000, async (see) => {
      const res = await w.api.get('/api/hosts')
      see(res.body)
      return res.status === 200 && res.body.find((h: any) => h.id === 'host-a' && h.figures?.cpuPercent !== null)
    })
    expect(host.local).toBe(true)
    expect(host.stale).toBe(false)
    expect(host.monitoringUrl).toBe(MONITORING)
    expect(host.figures.load).toHaveLength(3)
    expect(host.figures.memory.totalBytes).toBeGreaterThan(host.figures.memory.usedBytes)
    expect(host.figures.memory.usedBytes).toBeGreaterThan(0)
    expect(host.figures.diskFreeBytes).toBeGreaterThan(0)
    expect(host.figures.net).not.toBeNull()
    expect(host.figures.vms).toBe(1)
    expect(host.history.t.length).toBeGreaterThanOrEqual(2)
    expect(host.history.memoryUsed.at(-1)).toBeGreaterThan(0)
    expect((await w.api.get('/api/hosts?range=year')).status).toBe(400)
  })
})

describe('/metrics', () => {
  it('serves the seat\'s counters as its last sample in /api/vms/:id/stats shows them', async () => {
    // A sample may land between the two reads: read again until both saw the same one.
    const { last, figures } = await waitFor('/metrics and stats from one sample', 15_000, async () => {
      const before = await stats()
      const text = await (await fetch(`${w.server.url}/metrics`)).text()
      const after = await stats()
      if (before.last!.at !== after.last!.at) return undefined
      const { samples } = parseMetrics(text)
      const of = (name: string) => samples.find((s) => s.name === name && s.labels.vm === seat)?.value
      return { last: after.last!, figures: { cpu: of('labvirt_vm_cpu_seconds_total'), rss: of('labvirt_vm_rss_bytes'), read: of('labvirt_vm_disk_read_bytes_total'), written: of('labvirt_vm_disk_written_bytes_total') } }
    }, 100)
    expect(figures).toEqual({ cpu: last.cpuSeconds, rss: last.rssBytes, read: last.disk!.readBytes, written: last.disk!.writeBytes })
    expect(last.cpuSeconds).toBeGreaterThan(0)
  })
})
