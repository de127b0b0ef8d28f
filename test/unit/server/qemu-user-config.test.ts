import { describe, expect, it } from 'vitest'
import { ConfigError, readConfig } from '#server/config'

// Issue 8, finding 2: QEMU never runs as root unless asked.
describe('LABVIRT_QEMU_USER', () => {
  it('as root: QEMU drops to labvirt by default, to the user named, and stays root only when told', () => {
    expect(readConfig({}, '/dev/kvm', 0).qemuUser).toBe('labvirt')
    expect(readConfig({ LABVIRT_QEMU_USER: 'nobody' }, '/dev/kvm', 0).qemuUser).toBe('nobody')
    expect(readConfig({ LABVIRT_QEMU_USER: 'root' }, '/dev/kvm', 0).qemuUser).toBeUndefined()
  })

  it('not root: QEMU runs as LabVirt does (it cannot switch)', () => {
    expect(readConfig({}, '/dev/kvm', 1000).qemuUser).toBeUndefined()
  })

  it('a user that does not exist or is no user name stops the start, saying so', () => {
    expect(() => readConfig({ LABVIRT_QEMU_USER: 'no-such-user-here' }, '/dev/kvm', 0)).toThrow(/no user "no-such-user-here"/)
    expect(() => readConfig({ LABVIRT_QEMU_USER: 'nobody,chroot=/' }, '/dev/kvm', 0)).toThrow(ConfigError)
  })
})
