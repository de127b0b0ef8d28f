import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { echo, freePort } from '../../helpers/ports'
import { QemuHarness, tinyArgv, until } from '../../helpers/qemu'
import { TINY_GUEST_MIB, TINY_GUEST_PORT, TINY_GUEST_READY, tinyGuest } from '../../helpers/tiny-guest'

// The tiny guest the end-to-end tests run: its boot disk, as a LabVirt seat boots it (virtio-blk,
// virtio-net, TCG), takes a DHCP lease and serves its port. Here on slirp with a host forward.

const harness = new QemuHarness()
afterAll(() => harness.dispose())

describe('the tiny guest', () => {
  it('boots from its disk, takes a DHCP lease and echoes on its port', { timeout: 120_000 }, async () => {
    const guest = await tinyGuest()
    expect(guest.kernelPackage).toMatch(/^linux-image-.*-cloud-amd64$/)
    const port = await freePort()
    const runDir = await harness.runDir()
    const serial = join(runDir, 'serial.log')
    const started = performance.now()
    await harness.start({
      runDir,
      argv: tinyArgv(runDir, 'tiny', [
        '-m', String(TINY_GUEST_MIB),
        '-drive', `if=none,id=d0,file=${guest.disk},format=qcow2,snapshot=on`, '-device', 'virtio-blk-pci,drive=d0',
        '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:${TINY_GUEST_PORT}`, '-device', 'virtio-net-pci,netdev=n0',
        '-serial', `file:${serial}`,
      ]),
    })
    // slirp accepts on the host port before the guest listens: only an echo proves the guest serves.
    // About 8 s alone; 16-24 s measured while other guests booted on the two cores.
    await until(async () => (await echo(port, 'ping')) === 'ping\n', 60_000, 'an echo from the guest through the forward')
    console.log(`[measure] tiny guest (${guest.kernelPackage}): QEMU start -> echo on its port: ${Math.round(performance.now() - started)} ms`)
    // slirp's DHCP server hands out 10.0.2.15 first. The line follows the echo service's start.
    const ready = new RegExp(`${TINY_GUEST_READY} .*inet 10\\.0\\.2\\.15/24`)
    await until(async () => ready.test(await readFile(serial, 'utf8')), 10_000, 'the ready line on the serial console')
  })
})
