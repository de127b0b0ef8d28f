import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError, readConfig } from '#server/config'

describe('LABVIRT_ACCEL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'labvirt-accel-'))
  const openable = join(dir, 'kvm')
  writeFileSync(openable, '')
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it.each([
    [{ LABVIRT_ACCEL: 'tcg' }, openable, 'tcg'],
    [{ LABVIRT_ACCEL: 'kvm' }, join(dir, 'missing'), 'kvm'],
    [{ LABVIRT_ACCEL: 'auto' }, openable, 'kvm'],
    [{ LABVIRT_ACCEL: 'auto' }, join(dir, 'missing'), 'tcg'],
    [{}, openable, 'kvm'],
    [{ LABVIRT_ACCEL: '' }, join(dir, 'missing'), 'tcg'],
    [{ LABVIRT_ACCEL: ' TCG ' }, openable, 'tcg'],
    // A directory opens read-only at best, like a /dev/kvm without rw permission.
    [{}, dir, 'tcg'],
  ] as const)('%o with %s -> %s', (env, device, accel) => {
    expect(readConfig(env, device).accel).toBe(accel)
  })
})

describe('settings checked at start', () => {
  it.each([
    [{ LABVIRT_ACCEL: 'kmv' }, 'LABVIRT_ACCEL must be one of auto, kvm, tcg, got kmv'],
    [{ LABVIRT_POWERDOWN_TIMEOUT: 'soon' }, 'LABVIRT_POWERDOWN_TIMEOUT must be a number of seconds above 0, got soon'],
    [{ LABVIRT_RECONCILE_INTERVAL: '0' }, 'LABVIRT_RECONCILE_INTERVAL must be a number of seconds above 0, got 0'],
    [{ LABVIRT_HEARTBEAT_TIMEOUT: '-5' }, 'LABVIRT_HEARTBEAT_TIMEOUT must be a number of seconds above 0, got -5'],
    [{ LABVIRT_CONNECTION_POLL: '2s' }, 'LABVIRT_CONNECTION_POLL must be a number of seconds above 0, got 2s'],
    [{ LABVIRT_PROBE_INTERVAL: 'never' }, 'LABVIRT_PROBE_INTERVAL must be a number of seconds above 0, or off, got never'],
    [{ LABVIRT_UNHEALTHY_AFTER: '0' }, 'LABVIRT_UNHEALTHY_AFTER must be a number of seconds above 0, got 0'],
    [{ LABVIRT_RECONCILE: 'no' }, 'LABVIRT_RECONCILE must be on or off, got no'],
    [{ LABVIRT_QEMU_NICE: '20' }, 'LABVIRT_QEMU_NICE must be a whole number from 0 to 19, got 20'],
    [{ LABVIRT_QEMU_NICE: '-5' }, 'LABVIRT_QEMU_NICE must be a whole number from 0 to 19, got -5'],
    [{ LABVIRT_UPLOAD_MAX: 'lots' }, 'LABVIRT_UPLOAD_MAX must be a size like 64G, 512M or a number of bytes, got lots'],
    [{ LABVIRT_DISK_RESERVE: '-1G' }, 'LABVIRT_DISK_RESERVE must be a size like 64G, 512M or a number of bytes, got -1G'],
    [{ LABVIRT_SAMPLE_INTERVAL: '0.1' }, 'LABVIRT_SAMPLE_INTERVAL must be a number of seconds from 1 to 3600, or off, got 0.1'],
    [{ LABVIRT_SAMPLE_INTERVAL: 'never' }, 'LABVIRT_SAMPLE_INTERVAL must be a number of seconds from 1 to 3600, or off, got never'],
    [{ LABVIRT_MONITORING_URL: 'javascript:alert(1)' }, 'LABVIRT_MONITORING_URL must be an http or https address'],
    [{ LABVIRT_MONITORING_URL: 'https://admin:secret@grafana.example.edu/d/lab' }, 'LABVIRT_MONITORING_URL must be an http or https address'],
    [{ LABVIRT_MONITORING_URL: 'munin.example.edu' }, 'LABVIRT_MONITORING_URL must be an http or https address'],
    [{ LABVIRT_RESTART_SHARE: '0' }, 'LABVIRT_RESTART_SHARE must be a share above 0 and at most 100%, like 25% or 0.25, got 0'],
    [{ LABVIRT_RESTART_SHARE: '150%' }, 'LABVIRT_RESTART_SHARE must be a share above 0 and at most 100%, like 25% or 0.25, got 150%'],
    [{ LABVIRT_RESTART_SHARE: 'half' }, 'LABVIRT_RESTART_SHARE must be a share above 0 and at most 100%, like 25% or 0.25, got half'],
    [{ LABVIRT_VERSION_GRACE: '0' }, 'LABVIRT_VERSION_GRACE must be a number of seconds above 0, got 0'],
  ])('refuses %o', (env, message) => {
    expect(() => readConfig(env)).toThrow(ConfigError)
    expect(() => readConfig(env)).toThrow(message)
  })

  it('takes seconds as given, and on/off', () => {
    const c = readConfig({ LABVIRT_POWERDOWN_TIMEOUT: '1.5', LABVIRT_RECONCILE: 'off' })
    expect(c).toMatchObject({ powerdownTimeoutMs: 1500, reconcile: false, reconcileIntervalMs: 5000 })
    expect(readConfig({ LABVIRT_RECONCILE: 'on' }).reconcile).toBe(true)
    expect([readConfig({}).uploadMaxBytes, readConfig({ LABVIRT_UPLOAD_MAX: '512M' }).uploadMaxBytes, readConfig({ LABVIRT_DISK_RESERVE: '1000' }).diskReserveBytes]).toEqual([64 * 2 ** 30, 512 * 2 ** 20, 1000])
    expect([readConfig({}).sampleIntervalMs, readConfig({ LABVIRT_SAMPLE_INTERVAL: '2' }).sampleIntervalMs, readConfig({ LABVIRT_SAMPLE_INTERVAL: 'off' }).sampleIntervalMs]).toEqual([5000, 2000, 0])
    expect(readConfig({ LABVIRT_MONITORING_URL: 'https://grafana.example.edu/d/abc?var-host=h1' }).monitoringUrl).toBe('https://grafana.example.edu/d/abc?var-host=h1')
    expect([readConfig({}).qemuNice, readConfig({ LABVIRT_QEMU_NICE: '0' }).qemuNice, readConfig({ LABVIRT_QEMU_NICE: '19' }).qemuNice]).toEqual([19, 0, 19])
    expect([readConfig({}).probeIntervalMs, readConfig({ LABVIRT_PROBE_INTERVAL: '0.5' }).probeIntervalMs, readConfig({ LABVIRT_PROBE_INTERVAL: 'off' }).probeIntervalMs]).toEqual([5000, 500, undefined])
    expect(readConfig({}).unhealthyAfterMs).toBe(60_000)
    expect(['', '50%', '0.1', '100%'].map((x) => readConfig({ LABVIRT_RESTART_SHARE: x }).restartShare)).toEqual([0.25, 0.5, 0.1, 1])
    expect([readConfig({}).versionGraceMs, readConfig({ LABVIRT_VERSION_GRACE: '60' }).versionGraceMs]).toEqual([86_400_000, 60_000])
  })
})

describe('LABVIRT_CACHE_DIR', () => {
  it('is <data>/cache unless set, and always an absolute path', () => {
    expect(readConfig({ LABVIRT_DATA_DIR: '/srv/labvirt' }).cacheDir).toBe('/srv/labvirt/cache')
    expect(readConfig({ LABVIRT_DATA_DIR: '/srv/labvirt', LABVIRT_CACHE_DIR: '/var/cache/labvirt' }).cacheDir).toBe('/var/cache/labvirt')
    expect(readConfig({ LABVIRT_CACHE_DIR: 'cache' }).cacheDir).toBe(join(process.cwd(), 'cache'))
  })
})
