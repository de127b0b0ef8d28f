import { createHash } from 'node:crypto'
import { randomUUID } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildQemuArgs, type VmSpec } from '#server/qemu/args'
import { isRunning } from '#server/qemu/process'
import { connectWithRetry, type QmpClient } from '#server/qemu/qmp/index'
import { alive, QemuHarness, until } from '../../helpers/qemu'
import { freePort } from '../../helpers/ports'

/** The argv builder's output, started by a real QEMU: proves device names, escaping and snapshot mode. */
const harness = new QemuHarness()
let dir: string
let runDir: string
const img = (n: string) => join(dir, n)
/** The guest-visible first 64 KiB of an image. */
async function firstBytes(path: string): Promise<Buffer> {
  const raw = `${path}.raw`
  await execa('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', path, raw])
  return (await readFile(raw)).subarray(0, 65536)
}
const sha = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex')

beforeAll(async () => {
  dir = await harness.runDir()
  // Commas in the run dir and in an image name: both must survive QEMU's option parser.
  runDir = join(dir, 'run,1')
  await mkdir(runDir)
  for (const n of ['a.qcow2', 'b,c.qcow2', 'd.qcow2', 'v.qcow2', 's.qcow2']) await execa('qemu-img', ['create', '-q', '-f', 'qcow2', img(n), '16M'])
  await writeFile(img('cd.iso'), Buffer.alloc(1024 * 1024))
})
afterAll(() => harness.dispose())

function spec(over: Partial<VmSpec>): VmSpec {
  return {
    name: 'argv-1',
    uuid: randomUUID(),
    memoryMiB: 64,
    cpus: 1,
    accel: 'tcg',
    disks: [],
    snapshot: true,
    nic: null,
    runDir,
    extraArgs: [],
    ...over,
  }
}

async function boot(s: VmSpec): Promise<{ client: QmpClient; pidfile: string; pid: number }> {
  const vm = await harness.start({ name: s.name, runDir: s.runDir, argv: buildQemuArgs(s) })
  const client = await connectWithRetry(vm.qmp, { deadlineMs: 5_000 })
  return { client, pidfile: vm.pidfile, pid: vm.pid }
}

async function quit(client: QmpClient, pid: number) {
  await client.quit()
  await until(async () => !(await alive(pid)), 5_000, 'QEMU exit')
}

const hmp = (client: QmpClient, line: string) => client.execute('human-monitor-command', { 'command-line': line })
const qom = (client: QmpClient, path: string, property: string) => client.executeRaw('qom-get', { path, property })

describe('buildQemuArgs with a real QEMU', () => {
  it('places IDE, virtio and SCSI disks, escapes commas, and opens disks in snapshot mode', async () => {
    const hostPort = await freePort()
    const s = spec({
      disks: [
        { path: img('a.qcow2'), bus: 'ide', media: 'disk' },
        { path: img('b,c.qcow2'), bus: 'ide', media: 'disk' },
        { path: img('cd.iso'), bus: 'ide', media: 'cdrom' },
        { path: img('d.qcow2'), bus: 'ide', media: 'disk' },
        { path: img('v.qcow2'), bus: 'virtio', media: 'disk' },
        { path: img('s.qcow2'), bus: 'scsi', media: 'disk' },
      ],
      nic: { model: 'virtio', mac: '52:54:00:aa:00:01', netdev: { mode: 'user', hostfwd: [{ hostPort, guestPort: 3389 }] } },
    })
    const { client, pidfile, pid } = await boot(s)
    try {
      expect(await isRunning(pidfile)).toBe(true)
      const blocks = Object.fromEntries((await client.execute('query-block')).map((b) => [b.device, b]))
      expect(Object.keys(blocks).sort()).toEqual(['drive-ide0', 'drive-ide1', 'drive-ide2', 'drive-ide3', 'drive-scsi0', 'drive-virtio0'])
      // Snapshot mode: each disk is a temp overlay whose backing file is the image.
      for (const [drive, file] of [['drive-ide0', 'a.qcow2'], ['drive-ide1', 'b,c.qcow2'], ['drive-ide3', 'd.qcow2'], ['drive-virtio0', 'v.qcow2'], ['drive-scsi0', 's.qcow2']] as const) {
        expect(blocks[drive]!.inserted).toMatchObject({ backing_file: img(file), ro: false })
      }
      expect(blocks['drive-ide2']!.inserted).toMatchObject({ file: img('cd.iso'), ro: true })

      for (const [id, bus, unit, type] of [['ide0', 'ide.0', 0, 'ide-hd'], ['ide1', 'ide.0', 1, 'ide-hd'], ['ide2', 'ide.1', 0, 'ide-cd'], ['ide3', 'ide.1', 1, 'ide-hd']] as const) {
        expect(await qom(client, `/machine/peripheral/${id}`, 'parent_bus')).toMatch(new RegExp(`/${bus.replace('.', '\\.')}$`))
        expect(await qom(client, `/machine/peripheral/${id}`, 'unit')).toBe(unit)
        expect(await qom(client, `/machine/peripheral/${id}`, 'type')).toBe(type)
      }
      expect(await qom(client, '/machine/peripheral/nic0', 'mac')).toBe('52:54:00:aa:00:01')
      expect(await qom(client, '/machine/peripheral/nic0', 'type')).toBe('virtio-net-pci')
      expect(await hmp(client, 'info usernet')).toMatch(new RegExp(`HOST_FORWARD.*\\b${hostPort}\\b.*\\b3389\\b`))
      expect(await client.execute('query-vnc')).toMatchObject({ enabled: true, family: 'unix', service: join(runDir, 'argv-1.vnc') })
    } finally {
      await quit(client, pid)
    }
  })

  it.each(['e1000', 'rtl8139'] as const)('renders a working %s NIC', async (model) => {
    const { client, pid } = await boot(spec({ name: `nic-${model}`, nic: { model, mac: '52:54:00:aa:00:02', netdev: { mode: 'user' } } }))
    try {
      expect(await qom(client, '/machine/peripheral/nic0', 'type')).toBe(model)
      expect(await qom(client, '/machine/peripheral/nic0', 'mac')).toBe('52:54:00:aa:00:02')
    } finally {
      await quit(client, pid)
    }
  })

  it('snapshot mode leaves the image untouched; without it the write lands', async () => {
    const disk = { path: img('d.qcow2'), bus: 'ide' as const, media: 'disk' as const }
    const before = await sha(disk.path)
    const seat = await boot(spec({ name: 'seat-1', disks: [disk], snapshot: true }))
    // qemu-io prints to QEMU's stdout (/dev/null once daemonized), so the image itself is the evidence.
    await hmp(seat.client, 'qemu-io drive-ide0 "write -P 0x5a 0 64k"')
    await quit(seat.client, seat.pid)
    expect(await sha(disk.path)).toBe(before)
    expect(await firstBytes(disk.path)).toEqual(Buffer.alloc(65536, 0))

    const maint = await boot(spec({ name: 'prof-maint', disks: [disk], snapshot: false }))
    await hmp(maint.client, 'qemu-io drive-ide0 "write -P 0x5a 0 64k"')
    await quit(maint.client, maint.pid)
    expect(await firstBytes(disk.path)).toEqual(Buffer.alloc(65536, 0x5a))
  })
})
