import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { create, uniqueName } from '../../helpers/fixtures'
import { vmPaths } from '#server/qemu/paths'
import { connectWithRetry } from '#server/qemu/qmp/index'
import { brief, cmdline, listVms, makeLab, seatsOf, startVmServer, type VmWorld, waitFor } from './vm-helpers'

// Finding 1 of issue 8 (a profile's extra arguments reached host files and the host network) and
// finding 2 (QEMU ran as root): extra arguments are an allowlist, what admins used them for are
// profile fields, a profile stored before the allowlist does not start, and QEMU drops root.

let w: VmWorld
let image: { id: string }
beforeAll(async () => {
  w = await startVmServer()
  image = await create(w.api, 'images', { name: uniqueName('hi'), sizeMiB: 16 })
})
afterAll(() => w?.dispose())

const profile = (over: object) => ({ name: uniqueName('hp'), memoryMiB: 64, disks: [{ image: image.id }], ...over })

// Every argument the finding lists as seen to work or accepted, and the field it is refused in.
const BYPASSES: [string[], string][] = [
  [['-device', 'loader,file=README.md,addr=0x100000'], 'extraArgs.1'],
  [['-option-rom', 'LICENSE'], 'extraArgs.0'],
  [['-fw_cfg', 'name=opt.x,file=README.md'], 'extraArgs.0'],
  [['-mem-path', '/tmp/guest-ram'], 'extraArgs.0'],
  [['-debugcon', 'file:/tmp/truncated'], 'extraArgs.0'],
  [['-fda', '/tmp/floppy'], 'extraArgs.0'],
  [['fat:rw:..'], 'extraArgs.0'],
  [['nbd:127.0.0.1:10809'], 'extraArgs.0'],
  [['-gdb', 'tcp::1234'], 'extraArgs.0'],
  [['-qtest', 'tcp:127.0.0.1:4444,server=on'], 'extraArgs.0'],
  [['-spice', 'port=5930,disable-ticketing=on'], 'extraArgs.0'],
  [['-set', 'vnc.default.websocket=127.0.0.1:5701'], 'extraArgs.0'],
  [['-set', 'drive.drive-ide0.snapshot=off'], 'extraArgs.0'],
  [['-s'], 'extraArgs.0'],
  [['-device', 'usb-host'], 'extraArgs.1'],
  [['-device', 'vfio-pci,host=01:00.0'], 'extraArgs.1'],
  [['-tpmdev', 'passthrough,id=tpm0'], 'extraArgs.0'],
  [['-set', 'netdev.net0.guestfwd=tcp:10.0.2.100:1-cmd:sh'], 'extraArgs.0'],
  [['-audiodev', 'wav,id=a,path=/tmp/out.wav'], 'extraArgs.0'],
  [['-acpitable', 'file=/etc/passwd'], 'extraArgs.0'],
  [['-smbios', 'file=/etc/passwd'], 'extraArgs.0'],
  [['-pflash', '/tmp/flash'], 'extraArgs.0'],
  [['-global', 'ide-hd.drive=x'], 'extraArgs.0'],
  [['-readconfig', '/etc/qemu.conf'], 'extraArgs.0'],
  [['-usb', '-device', 'usb-tablet,bus=x'], 'extraArgs.2'],
]

describe('extra arguments: an allowlist', () => {
  it.each(BYPASSES)('%j is refused with 400 naming %s', async (extraArgs, field) => {
    const res = await w.api.post('/api/profiles', profile({ extraArgs }))
    expect(res.status).toBe(400)
    expect(res.body.fields.map((f: { field: string }) => f.field)).toContain(field)
  })

  it.each([
    [{ cpuModel: 'max,+vmx' }, 'cpuModel'],
    [{ machine: 'isapc' }, 'machine'],
    [{ sound: 'wav' }, 'sound'],
    [{ display: 'cirrus' }, 'display'],
    [{ firmware: 'coreboot' }, 'firmware'],
    [{ smbios: { file: '/etc/passwd' } }, 'smbios.file'],
    [{ smbios: { serial: 'a\nb' } }, 'smbios.serial'],
  ])('a bad hardware field %j: 400 naming %s', async (over, field) => {
    const res = await w.api.post('/api/profiles', profile(over))
    expect(res.status).toBe(400)
    expect(res.body.fields.map((f: { field: string }) => f.field)).toEqual([field])
  })

  it('the allowed ones pass, and a profile says it has no problems', async () => {
    const res = await w.api.post('/api/profiles', profile({ extraArgs: ['-usb', '-device', 'usb-kbd', '-k', 'es', '-no-hpet'] }))
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect((await w.api.get(`/api/profiles/${res.body.id}`)).body.problems).toEqual([])
  })
})

describe('a profile stored before the allowlist', () => {
  it('is reported, kept as it is, and its seat does not start and says why', async () => {
    const { lab, profile: p } = await makeLab(w.api, 0, 'old')
    // As an older LabVirt stored it: the bypass written into the store directly, while the server
    // is down (it caches what it owns).
    await w.server.stop()
    const file = join(w.server.dataDir, 'store', 'profiles', p.id)
    const stored = JSON.parse(await readFile(file, 'utf8'))
    await writeFile(file, JSON.stringify({ ...stored, extraArgs: ['-usb', '-option-rom', 'LICENSE'] }))
    await w.server.restart()

    const es = await w.api.request('GET', `/api/profiles/${p.id}`, undefined, { headers: { 'accept-language': 'es' } })
    expect(es.body.extraArgs).toEqual(['-usb', '-option-rom', 'LICENSE'])
    expect(es.body.problems.map((x: { field: string }) => x.field)).toEqual(['extraArgs.1', 'extraArgs.2'])
    expect(es.body.problems[0].message).toMatch(/^Los argumentos adicionales/)
    expect((await w.api.get('/api/profiles')).body.find((x: { id: string }) => x.id === p.id).problems).toHaveLength(2)

    const cur = await w.api.get(`/api/labs/${lab.id}`)
    expect((await w.api.put(`/api/labs/${lab.id}`, { ...cur.body, size: 1 })).status).toBe(200)
    const seat = await waitFor('the seat reports its refused profile', 10_000, async (see) => {
      const seats = seatsOf(await listVms(w.api), lab.id)
      see(brief(seats))
      return seats.find((s) => s.error)
    })
    expect(seat.state).toBe('failed')
    expect(seat.pid).toBeUndefined()
    expect(seat.error).toContain(`Profile "${p.id}" has extra arguments LabVirt does not allow (-option-rom LICENSE)`)
  })
})

describe('the hardware fields, on a real QEMU run by the reconciler', () => {
  it('a q35 UEFI seat with every field runs as the unprivileged user, reads its image and serves QMP and VNC', async () => {
    const fields = {
      machine: 'q35', cpuModel: 'max', rtcLocalTime: true, usbTablet: true, sound: 'hda', display: 'virtio', firmware: 'uefi',
      smbios: { manufacturer: 'ACME, Inc.', serial: 'LAB-0001' },
    }
    const p = await w.api.post('/api/profiles', profile({ ...fields, memoryMiB: 128 }))
    expect(p.status, JSON.stringify(p.body)).toBe(201)
    expect(p.body).toMatchObject(fields)
    const lab = await create(w.api, 'labs', { name: uniqueName('hl'), size: 1, max: 2, profiles: [p.body.id], network: { mode: 'user' } })
    const id = `${lab.id}-1`
    const seat = await waitFor('the seat runs', 30_000, async (see) => {
      const seats = seatsOf(await listVms(w.api), lab.id)
      see(brief(seats))
      return seats.find((s) => s.state === 'running' && s.pid)
    })
    const argv = cmdline(seat.pid!)!
    for (const pair of [['-machine', 'q35'], ['-cpu', 'max'], ['-rtc', 'base=localtime'], ['-vga', 'virtio'], ['-smbios', 'type=1,manufacturer=ACME,, Inc.,serial=LAB-0001']]) {
      expect(argv.join(' ')).toContain(pair.join(' '))
    }
    const paths = vmPaths(w.runDir, id)
    // Its own UEFI variables, private to it.
    expect(statSync(paths.uefiVars).mode & 0o777).toBe(0o600)

    // LabVirt runs as root in the tests: QEMU dropped to the labvirt user after opening its files.
    expect(process.getuid?.()).toBe(0)
    const uid = (await execa('id', ['-u', 'labvirt'])).stdout.trim()
    expect(readFileSync(`/proc/${seat.pid}/status`, 'utf8')).toMatch(new RegExp(`^Uid:\\t${uid}\\t${uid}\\t${uid}\\t${uid}$`, 'm'))
    // Behind the server in the queue for a CPU: its nice value, and with the kernel's autogroups
    // (nice counts only inside a session, and -daemonize gives QEMU its own) its session's too.
    const niceOf = (stat: string) => Number(stat.split(') ')[1]!.split(' ')[16])
    const threads = readdirSync(`/proc/${seat.pid}/task`)
    expect(threads.length).toBeGreaterThan(1)
    for (const t of threads) expect(niceOf(readFileSync(`/proc/${seat.pid}/task/${t}/stat`, 'utf8')), `thread ${t}`).toBe(19)
    if (existsSync('/proc/self/autogroup')) expect(readFileSync(`/proc/${seat.pid}/autogroup`, 'utf8')).toMatch(/ nice 19$/m)
    // It reads its disk (opened as root at start): the guest sees it, and QMP answers.
    const qmp = await connectWithRetry(paths.toolQmp, { deadlineMs: 5_000 })
    try {
      expect(JSON.stringify(await qmp.execute('query-block'))).toContain(`${image.id}.qcow2`)
    } finally {
      qmp.close()
    }
    expect(await vncGreeting(paths.vnc)).toMatch(/^RFB \d{3}\.\d{3}\n$/)
  })
})

// Finding 10: user-mode host ports another program holds.
describe('host ports in use', () => {
  it('a new block skips a port another program listens on, and a seat whose port is taken says which', async () => {
    // The lowest free block of this server's range, found by placing a lab and deleting it.
    const { lab: probe } = await makeLab(w.api, 0, 'free')
    expect((await w.api.delete(`/api/labs/${probe.id}`)).status).toBe(204)
    const port = (probe as unknown as { network: { hostPort: number } }).network.hostPort
    const other = createServer()
    await new Promise<void>((resolve) => other.listen(port, '127.0.0.1', resolve))
    try {
      const { lab } = await makeLab(w.api, 0, 'port')
      expect((lab as unknown as { network: { hostPort: number } }).network.hostPort).not.toBe(port)
      // An admin may still ask for the taken port: the seat fails naming it.
      const cur = await w.api.get(`/api/labs/${lab.id}`)
      const put = await w.api.put(`/api/labs/${lab.id}`, { ...cur.body, size: 1, network: { mode: 'user', hostPort: port } })
      expect(put.status, JSON.stringify(put.body)).toBe(200)
      const seat = await waitFor('the seat fails on its port', 20_000, async (see) => {
        const seats = seatsOf(await listVms(w.api), lab.id)
        see(brief(seats))
        return seats.find((s) => s.state === 'failed' && s.error)
      })
      expect(seat.error).toContain(`Host port ${port} is in use by another program`)
    } finally {
      other.close()
    }
  })
})

/** The first bytes a VNC server sends: its protocol version. */
function vncGreeting(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(path)
    s.once('data', (d) => {
      s.destroy()
      resolve(d.toString('latin1'))
    })
    s.once('error', reject)
    setTimeout(() => reject(new Error('no VNC greeting')), 5000).unref()
  })
}
