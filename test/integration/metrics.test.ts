import { execa } from 'execa'
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminClient, type ApiClient } from '../helpers/client'
import { createLabSet, type LabSet } from '../helpers/fixtures'
import { startServer, type TestServer } from '../helpers/server'
import { parseMetrics } from '../helpers/prometheus'
import { waitFor } from './vms/vm-helpers'

// GET /metrics: Prometheus text that agrees with the API, behind a bearer token when one is set.

const TOKEN = 'metrics-token-for-tests'

let server: TestServer
let admin: ApiClient
let set: LabSet

beforeAll(async () => {
  // Reconcile off: the lab's seats are desired and listed as stopped, no QEMU needed for the counts.
  // The host is sampled (its CPU for Munin's graph).
  server = await startServer({ LABVIRT_METRICS_TOKEN: TOKEN, LABVIRT_RECONCILE: 'off', LABVIRT_SAMPLE_INTERVAL: '1' })
  admin = await adminClient(server.url)
  set = await createLabSet(admin, 'metrics')
}, 60_000)

afterAll(async () => {
  await server?.dispose()
})

const scrape = (headers: Record<string, string> = {}) => fetch(`${server.url}/metrics`, { headers })

describe('GET /metrics', () => {
  it('refuses a missing or wrong token with 401 and WWW-Authenticate: Bearer', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong' }, { authorization: `Basic ${TOKEN}` }]) {
      const res = await scrape(headers)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
    }
  })

  it('serves parseable Prometheus text whose VM counts match GET /api/vms', async () => {
    const res = await scrape({ authorization: `Bearer ${TOKEN}` })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
    const { types, samples } = parseMetrics(await res.text())
    expect(types.get('labvirt_vms')).toBe('gauge')
    expect(types.get('labvirt_reconcile_pass_seconds')).toBe('histogram')
    expect(types.get('labvirt_terminal_requests_total')).toBe('counter')
    expect(types.get('labvirt_process_resident_memory_bytes')).toBe('gauge')

    const vms = (await admin.get('/api/vms')).body as { lab?: string; state: string; ready: boolean }[]
    const labVms = vms.filter((v) => v.lab === set.lab.id)
    expect(labVms.length).toBe(set.lab.size)
    const counted = new Map<string, number>()
    for (const v of labVms) counted.set(v.state, (counted.get(v.state) ?? 0) + 1)
    const byState = samples.filter((s) => s.name === 'labvirt_vms' && s.labels.lab === set.lab.id)
    expect(byState.length).toBeGreaterThan(0)
    for (const s of byState) expect(s.value, s.labels.state).toBe(counted.get(s.labels.state!) ?? 0)

    const one = (name: string) => samples.find((s) => s.name === name && s.labels.lab === set.lab.id)?.value
    expect(one('labvirt_lab_size')).toBe(set.lab.size)
    expect(one('labvirt_seats_ready')).toBe(labVms.filter((v) => v.ready).length)
    expect(one('labvirt_seats_connected')).toBe(0)
    const host = (name: string) => samples.find((s) => s.name === name)?.value
    expect(host('labvirt_host_memory_total_bytes')).toBeGreaterThan(0)
    expect(host('labvirt_data_disk_free_bytes')).toBeGreaterThan(0)
  })

  it('counts GET /api/terminal answers by outcome', async () => {
    const count = async (outcome: string) => {
      const { samples } = parseMetrics(await (await scrape({ authorization: `Bearer ${TOKEN}` })).text())
      return samples.find((s) => s.name === 'labvirt_terminal_requests_total' && s.labels.outcome === outcome)?.value
    }
    const before = await count('pending')
    expect(before).toBeDefined()
    // An unknown MAC: refused and noted as a pending terminal.
    const res = await fetch(`${server.url}/api/terminal?mac=02:00:00:00:99:99`)
    expect(res.status).toBe(403)
    expect(await count('pending')).toBe(before! + 1)
  })
})

describe('labvirt munin', () => {
  const CLI = resolve(__dirname, '../../bin/labvirt.mjs')
  const munin = (args: string[], token = TOKEN) =>
    execa(CLI, ['munin', ...args], { reject: false, env: { LABVIRT_URL: server.url, LABVIRT_METRICS_TOKEN: token, LANG: 'C' } })

  it('autoconf says yes with the token, no (reason) without it, and exits 0 both ways', async () => {
    expect(await munin(['autoconf'])).toMatchObject({ exitCode: 0, stdout: 'yes' })
    const no = await munin(['autoconf'], 'wrong')
    expect(no.exitCode).toBe(0)
    expect(no.stdout).toMatch(/^no \(.*401.*\)$/)
  })

  it('config and fetch follow the protocol: every configured field has a numeric value, the host CPU too', async () => {
    // The host's first CPU figure needs two samples.
    await waitFor('a host CPU figure', 10_000, async (see) => {
      const host = (await admin.get('/api/hosts')).body.find((h: any) => h.local)
      see(host)
      return typeof host?.figures?.cpuPercent === 'number'
    })
    const config = await munin(['config'])
    expect(config.exitCode).toBe(0)
    expect(config.stdout).toContain('graph_category labvirt')
    expect(config.stdout).toContain(`${set.lab.id.replace(/[^a-zA-Z0-9_]/g, '_')}.label ${set.lab.id}`)
    for (const line of config.stdout.split('\n')) expect(line).toMatch(/^(?:multigraph \w+|graph_\w+ .+|[a-zA-Z_][a-zA-Z0-9_]*\.(?:label|min|max) .+)$/)
    expect(config.stdout).toContain('multigraph labvirt_cpu\ngraph_title LabVirt host CPU\ngraph_vlabel %\n')
    const fetched = await munin([])
    expect(fetched.exitCode).toBe(0)
    const values = new Map<string, string>()
    let graph = ''
    for (const line of fetched.stdout.split('\n')) {
      const m = /^multigraph (\w+)$/.exec(line) ?? /^([a-zA-Z_][a-zA-Z0-9_]*)\.value (\S+)$/.exec(line)
      expect(m, line).toBeTruthy()
      if (line.startsWith('multigraph')) graph = m![1]!
      else values.set(`${graph}/${m![1]}`, m![2]!)
    }
    graph = ''
    for (const line of config.stdout.split('\n')) {
      const g = /^multigraph (\w+)$/.exec(line)
      if (g) graph = g[1]!
      const f = /^(\w+)\.label /.exec(line)
      if (f) expect(Number(values.get(`${graph}/${f[1]}`)), `${graph}/${f[1]}`).not.toBeNaN()
    }
    expect(values.get('labvirt_seats/stopped')).toBe(String(set.lab.size))
    const busy = Number(values.get('labvirt_cpu/busy'))
    expect(busy).toBeGreaterThanOrEqual(0)
    expect(busy).toBeLessThanOrEqual(100)
  })
})
